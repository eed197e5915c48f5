"""Early fusion (concatenate the views' features), late fusion (combine per-view predictions)
and their hybrid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from jointspace.fusion.base import Batch, FusionModule, masked_mean, masked_softmax
from jointspace.layers import MLP, widths

COMBINES = ("mean", "weighted")


def _check_combine(combine: str) -> str:
    if combine not in COMBINES:
        raise ValueError(f"combine={combine!r}; expected one of {', '.join(COMBINES)}")
    return combine


class EarlyFusion(FusionModule):
    """Concatenate the views' features, then an MLP: (m, Σ d_v [+ n_views]) → (m, out_dim).

    A sequence view enters as the mean of its real tokens. A missing view's features are
    zeros; with ``mask_bits`` the mask is appended as n_views extra 0/1 inputs, so an
    observed all-zero view and a missing one stay distinguishable.

    Args:
        dims, out_dim: see :class:`~jointspace.fusion.base.FusionModule`.
        hidden: widths of the MLP's hidden layers (``()``: linear).
        activation, dropout: of the MLP (see :class:`~jointspace.layers.MLP`).
        mask_bits: append the mask to the features.
    """

    name = "early"

    def __init__(
        self,
        dims: Mapping[str, int],
        out_dim: int,
        hidden: int | Sequence[int] = (128,),
        activation: str = "relu",
        dropout: float = 0.0,
        mask_bits: bool = True,
    ):
        hidden = widths(hidden)
        super().__init__(dims, out_dim, hidden=list(hidden), activation=activation,
                         dropout=dropout, mask_bits=bool(mask_bits))
        self.mask_bits = bool(mask_bits)
        in_dim = sum(self.dims.values()) + (self.n_views if self.mask_bits else 0)
        self.mlp = MLP(in_dim, out_dim, hidden=hidden, activation=activation, dropout=dropout)

    def features(self, batch: Batch) -> torch.Tensor:
        """(m, Σ d_v [+ n_views]): the concatenated (zeroed) features and mask bits."""
        parts = batch.pooled()
        if self.mask_bits:
            parts.append(batch.mask_bits())
        return torch.cat(parts, dim=1)

    def fuse(self, batch: Batch) -> torch.Tensor:
        return self.mlp(self.features(batch))


class LateFusion(FusionModule):
    """One head per view, (m, d_v) → (m, out_dim), combined over the observed views.

    ``combine="mean"`` averages the observed views' outputs; ``"weighted"`` uses learned
    view weights w = softmax over the observed views of a logit per view, Σ_v w_v · y_v (one
    observed view gets weight 1). A sequence view enters as the mean of its real tokens.

    Args:
        dims, out_dim: see :class:`~jointspace.fusion.base.FusionModule`.
        hidden: widths of each head's hidden layers (``()``: linear heads).
        activation, dropout: of the heads.
        combine: "mean" or "weighted".
    """

    name = "late"

    def __init__(
        self,
        dims: Mapping[str, int],
        out_dim: int,
        hidden: int | Sequence[int] = (64,),
        activation: str = "relu",
        dropout: float = 0.0,
        combine: str = "mean",
    ):
        hidden = widths(hidden)
        super().__init__(dims, out_dim, hidden=list(hidden), activation=activation,
                         dropout=dropout, combine=_check_combine(combine))
        self.combine = combine
        self.heads = nn.ModuleList(
            MLP(d, out_dim, hidden=hidden, activation=activation, dropout=dropout)
            for d in self.dims.values()
        )
        # learned view weights only when they are used (an unused parameter never trains)
        self.view_logits = (nn.Parameter(torch.zeros(self.n_views))
                            if combine == "weighted" else None)

    def per_view(self, batch: Batch) -> torch.Tensor:
        """(m, n_views, out_dim): each view's head output (a missing view's: zeros)."""
        out = torch.stack([h(x) for h, x in zip(self.heads, batch.pooled())], dim=1)
        return torch.where(batch.mask[:, :, None], out, torch.zeros_like(out))

    def fuse(self, batch: Batch) -> torch.Tensor:
        return combine_outputs(self.per_view(batch), batch.mask, self.view_logits)


def combine_outputs(outputs: torch.Tensor, present: torch.Tensor,
                    logits: torch.Tensor | None) -> torch.Tensor:
    """(m, k, o) outputs, (m, k) bool → (m, o): their mean over the present ones, or with
    ``logits`` (k,) the sum weighted by the softmax of the logits over the present ones. An
    absent output never contributes (its weight is exactly 0, its value never read)."""
    if logits is None:
        return masked_mean(outputs, present, dim=1)
    weights = masked_softmax(logits.expand(present.shape[0], -1), present, dim=1)
    kept = torch.where(present[:, :, None], outputs, torch.zeros_like(outputs))
    return (weights[:, :, None] * kept).sum(dim=1)


class HybridFusion(FusionModule):
    """Early and late fusion together: the early branch's output counts as one more
    prediction, always present, combined with the observed views' late predictions.

    ``combine="weighted"`` learns a weight logit for the early branch and each view (softmax
    over the early branch and the observed views); ``"mean"`` averages them.

    Args:
        dims, out_dim: see :class:`~jointspace.fusion.base.FusionModule`.
        early_hidden, late_hidden: hidden widths of the early MLP and of each late head.
        activation, dropout: of both branches.
        combine: "weighted" or "mean".
    """

    name = "hybrid"

    def __init__(
        self,
        dims: Mapping[str, int],
        out_dim: int,
        early_hidden: int | Sequence[int] = (128,),
        late_hidden: int | Sequence[int] = (64,),
        activation: str = "relu",
        dropout: float = 0.0,
        combine: str = "weighted",
    ):
        early_hidden, late_hidden = widths(early_hidden), widths(late_hidden)
        super().__init__(dims, out_dim, early_hidden=list(early_hidden),
                         late_hidden=list(late_hidden), activation=activation,
                         dropout=dropout, combine=_check_combine(combine))
        self.early = EarlyFusion(dims, out_dim, hidden=early_hidden, activation=activation,
                                 dropout=dropout)
        self.late = LateFusion(dims, out_dim, hidden=late_hidden, activation=activation,
                               dropout=dropout, combine="mean")
        #: weight logits of [early, view_1, …, view_n] ("weighted")
        self.branch_logits = (nn.Parameter(torch.zeros(self.n_views + 1))
                              if combine == "weighted" else None)

    def fuse(self, batch: Batch) -> torch.Tensor:
        outputs = torch.cat([self.early.fuse(batch)[:, None], self.late.per_view(batch)], dim=1)
        present = torch.cat([torch.ones_like(batch.mask[:, :1]), batch.mask], dim=1)
        return combine_outputs(outputs, present, self.branch_logits)

"""Autoencoders over several views: a split autoencoder with one shared code, or one
autoencoder per view.

The split autoencoder (the bimodal autoencoder of Ngiam et al. 2011, "AE + towers") encodes
each view, takes the mean of the codes of the views a sample has as its shared code, and
decodes every view from it. It is trained to reconstruct every observed view from the shared
code and from each view's code alone, so that one view is enough to recover the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from torch import nn

from jointspace.losses.variational import log_likelihood
from jointspace.models.constraints import POSITIVE_INT
from jointspace.models.deep.base import DEEP_CONSTRAINTS, DeepJointModel
from jointspace.models.deep.generative import CrossGeneration, float64_call
from jointspace.models.deep.towers import MLP, build_tower, widths
from jointspace.models.deep.vae import LIKELIHOODS
from jointspace.train.options import TrainingOptions


def masked_mean_code(codes: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """Mean of the observed views' codes per row: (m, k) each, mask (m, n_views) → (m, k)."""
    total = sum(torch.where(mask[:, i : i + 1], c, 0.0) for i, c in enumerate(codes))
    return total / mask.sum(dim=1, keepdim=True).clamp_min(1).to(codes[0].dtype)


class AutoencoderNetwork(nn.Module):
    """Encoders and decoders of every view; the reconstruction objective (module doc)."""

    def __init__(self, encoders: Sequence[nn.Module], decoders: Sequence[nn.Module],
                 shared: bool, likelihoods: Sequence[str]):
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.decoders = nn.ModuleList(decoders)
        self.shared = shared
        self.likelihoods = list(likelihoods)

    def view_encoder(self, i: int) -> nn.Module:
        return self.encoders[i]

    def error(self, z: torch.Tensor, views: list[torch.Tensor], mask: torch.Tensor,
              targets: Sequence[int]) -> torch.Tensor:
        """−Σ_j log p(x_j | z) over the observed views j in ``targets``, per row: (m,)."""
        total = torch.zeros(len(z), dtype=z.dtype, device=z.device)
        for j in targets:
            seen = mask[:, j]
            x = torch.where(seen[:, None], views[j], 0.0)
            ll = log_likelihood(self.likelihoods[j], self.decoders[j](z), x)
            total = total - torch.where(seen, ll, 0.0)
        return total

    def reconstruction_error(self, views: list[torch.Tensor],
                             mask: torch.Tensor) -> torch.Tensor:
        """Per row: shared: the error of every observed view from the shared code plus from
        each view's code alone; else each view's error from its own code. (m,)"""
        safe = [torch.where(mask[:, i : i + 1], v, 0.0) for i, v in enumerate(views)]
        codes = [enc(v) for enc, v in zip(self.encoders, safe)]
        n = len(views)
        if not self.shared:
            return sum(self.error(c, views, mask, [i]) for i, c in enumerate(codes))
        total = self.error(masked_mean_code(codes, mask), views, mask, range(n))
        for i, code in enumerate(codes):
            alone = self.error(code, views, mask, range(n))
            total = total + torch.where(mask[:, i], alone, 0.0)
        return total

    def training_loss(self, views: list[torch.Tensor], mask: torch.Tensor) -> dict[str, Any]:
        return {"loss": self.reconstruction_error(views, mask).mean()}

    def validation_score(self, views: list[torch.Tensor], mask: torch.Tensor) -> float:
        return float(-self.reconstruction_error(views, mask).mean())


class SplitAutoencoder(CrossGeneration, DeepJointModel):
    """Split autoencoder (``shared=True``) or per-view autoencoders (``shared=False``)
    (scikit-learn estimator, JointModel contract).

    ``transform`` gives each view's code; ``fuse`` (shared) the mean code of the views a
    sample has; :meth:`generate` decodes a view from others. With ``shared=False`` the views'
    codes are not aligned (a baseline: each view only reconstructs itself).

    Args:
        n_components: k, the code width.
        shared: one shared code (split autoencoder) or one autoencoder per view.
        likelihood: "gaussian" (squared error: standardized features) or "bernoulli"
            (cross-entropy: features in [0, 1]), one for every view or one per view.
        tower, hidden, activation, dropout, batch_norm: the encoders; decoders are MLPs with
            the hidden widths reversed.
        missing: views that samples lack, at fit and at query time: "mask", "drop",
            "zero", "mean" or "model" (see :mod:`jointspace.models.missing_views`); None:
            "mask", the views a sample lacks are masked in training.
        training: changes to the training options, a dict (see
            :class:`~jointspace.train.options.TrainingOptions`); defaults: 50 epochs of
            AdamW at lr 3e-3 in batches of 128.
        random_state: seed of the weights and of every epoch's shuffling and noise.

    Fitted attributes: ``network_``, ``history_``, ``best_epoch_``, ``n_components_``,
    ``canonical_correlations_`` (of the views' codes on complete training rows).
    """

    fits_missing_views: ClassVar[bool] = True
    training_defaults: ClassVar[TrainingOptions] = TrainingOptions(
        epochs=50, batch_size=128, lr=3e-3)
    _parameter_constraints: ClassVar[dict] = {
        **DEEP_CONSTRAINTS,
        "n_components": [POSITIVE_INT],
        "shared": ["boolean"],
        "likelihood": [StrOptions(set(LIKELIHOODS)), list, tuple],
    }

    def __init__(
        self,
        n_components: int = 20,
        *,
        shared: bool = True,
        likelihood: str | Sequence[str] = "gaussian",
        tower: Any = "mlp",
        hidden: Sequence[int] = (512, 512),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        missing: str | None = None,
        training: dict | None = None,
        random_state: int | None = 0,
    ):
        self.n_components = n_components
        self.shared = shared
        self.likelihood = likelihood
        self.tower = tower
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.missing = missing
        self.training = training
        self.random_state = random_state

    @property
    def _out_dim(self) -> int:
        return int(self.n_components)

    def _decoder_kinds(self) -> list[str]:
        return self._kinds(self.n_views_)

    def _kinds(self, n: int) -> list[str]:
        kinds = [self.likelihood] * n if isinstance(self.likelihood, str) else list(self.likelihood)
        if len(kinds) != n or any(k not in LIKELIHOODS for k in kinds):
            raise ValueError(f"likelihood={self.likelihood!r}; expected one of {LIKELIHOODS} "
                             f"or a list of {n} of them (one per view)")
        return kinds

    def _build_network(self, dims: list[int]) -> AutoencoderNetwork:
        specs = self.tower if isinstance(self.tower, list | tuple) else [self.tower] * len(dims)
        if len(specs) != len(dims):
            raise ValueError(f"tower has {len(specs)} entries; expected one per view ({len(dims)})")
        mlp = {"hidden": widths(self.hidden), "activation": self.activation,
               "dropout": self.dropout, "batch_norm": self.batch_norm}
        k = self._out_dim
        encoders = [build_tower(s, d, k, **mlp) for s, d in zip(specs, dims)]
        decoders = [MLP(k, d, hidden=widths(self.hidden)[::-1], activation=self.activation)
                    for d in dims]
        return AutoencoderNetwork(encoders, decoders, bool(self.shared), self._kinds(len(dims)))

    def _fit_arrays(self, arrays: list[np.ndarray], mask: np.ndarray) -> None:
        for a, kind, seen in zip(arrays, self._kinds(len(arrays)), mask.T):
            if kind == "bernoulli" and (a[seen].min() < 0 or a[seen].max() > 1):
                raise ValueError("likelihood 'bernoulli' needs features in [0, 1]; a view "
                                 f"has values in [{a[seen].min():.3g}, {a[seen].max():.3g}]")
        torch.manual_seed(self._seed)
        network = self._build_network([a.shape[1] for a in arrays])
        train, val = self._split_rows(len(mask))
        self._train(network, arrays, mask, train, val)
        self.network_ = network.cpu().eval()
        self.n_components_ = self._out_dim
        complete = mask.all(axis=1)
        from jointspace.metrics import canonical_correlations

        self.canonical_correlations_ = canonical_correlations(
            *[self._encode(i, a[complete]) for i, a in enumerate(arrays)])

    def _transform_array(self, i: int, X: np.ndarray) -> np.ndarray:
        return self._encode(i, X)

    def _joint_code(self, arrays: list[np.ndarray], mask: np.ndarray) -> np.ndarray:
        codes = [float64_call(e, torch.as_tensor(np.where(seen[:, None], a, 0.0)))
                 for e, a, seen in zip(self.network_.encoders, arrays, mask.T)]
        return masked_mean_code(codes, torch.as_tensor(mask)).numpy()

"""Gated fusion: per-view projections mixed by gates computed from the observed views (a gated
multimodal unit, Arevalo et al. 2017, for any number of views)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from jointspace.fusion.base import Batch, FusionModule, masked_softmax

GATES = ("softmax", "sigmoid")


class GatedFusion(FusionModule):
    """Per-view projections h_v = tanh(W_v x_v) (m, width), mixed by gates over the views.

    The gate logits (m, n_views, width) — one per view and per unit — come from a Linear
    layer on the concatenated (zeroed) features of all views and the mask bits, so they
    see only the observed views. ``gate="softmax"`` normalizes them over the observed views
    (one observed view gets gate 1); ``"sigmoid"`` gates each observed view independently
    in (0, 1). The mix Σ_v g_v ⊙ h_v goes through a Linear layer to (m, out_dim). A missing
    view's gate is exactly 0. A sequence view enters as the mean of its real tokens.

    Args:
        dims, out_dim: see :class:`~jointspace.fusion.base.FusionModule`.
        width: width of the per-view projections and of the gates.
        gate: "softmax" or "sigmoid".
        dropout: on the mix.
    """

    name = "gated"

    def __init__(
        self,
        dims: Mapping[str, int],
        out_dim: int,
        width: int = 64,
        gate: str = "softmax",
        dropout: float = 0.0,
    ):
        if gate not in GATES:
            raise ValueError(f"gate={gate!r}; expected one of {', '.join(GATES)}")
        super().__init__(dims, out_dim, width=int(width), gate=gate, dropout=dropout)
        self.gate, self.width = gate, int(width)
        self.projections = nn.ModuleList(nn.Linear(d, width) for d in self.dims.values())
        self.gates = nn.Linear(sum(self.dims.values()) + self.n_views, self.n_views * width)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, out_dim)

    def gate_values(self, batch: Batch) -> torch.Tensor:
        """(m, n_views, width): the gates, exactly 0 for a missing view."""
        pooled = batch.pooled()
        logits = self.gates(torch.cat([*pooled, batch.mask_bits()], dim=1))
        logits = logits.reshape(-1, self.n_views, self.width)
        present = batch.mask[:, :, None]
        if self.gate == "softmax":
            return masked_softmax(logits, present, dim=1)
        g = torch.sigmoid(logits)
        return torch.where(present, g, torch.zeros_like(g))

    def fuse(self, batch: Batch) -> torch.Tensor:
        h = torch.stack([torch.tanh(p(x)) for p, x in zip(self.projections, batch.pooled())],
                        dim=1)
        h = torch.where(batch.mask[:, :, None], h, torch.zeros_like(h))
        mixed = (self.gate_values(batch) * h).sum(dim=1)
        return self.head(self.dropout(mixed))

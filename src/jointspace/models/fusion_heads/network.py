"""The network of the fusion heads: a fusion module, then a linear head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from jointspace.fusion import FusionModule

#: the supervised objectives
TASKS = ("classification", "regression")


class FusionHeadNetwork(nn.Module):
    """``fusion`` (views, mask) → (m, n_components), then a Linear head → (m, n_outputs).

    The :class:`~jointspace.train.Trainer` sees the targets as one more "view", the last
    (class indices as floats, or standardized regression targets), always observed, so that
    they reach :meth:`training_loss` and :meth:`validation_score` with their rows.

    Args:
        fusion: the fusion module (its ``view_names`` fix the order of the views).
        n_outputs: classes (classification) or target columns (regression).
        task: "classification" (cross-entropy; validation: accuracy) or "regression"
            (mean squared error; validation: minus it).
        view_dropout: in training, each observed view of a row is masked with this
            probability (a row keeps all its views when every one would be dropped), so the
            fusion learns rows that lack views.
        input_noise: standard deviation of Gaussian noise on the (standardized) inputs in
            training.
    """

    def __init__(self, fusion: FusionModule, n_outputs: int, task: str,
                 view_dropout: float = 0.0, input_noise: float = 0.0):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task={task!r}; expected one of {', '.join(TASKS)}")
        self.fusion = fusion
        self.head = nn.Linear(fusion.out_dim, n_outputs)
        self.task = task
        self.view_dropout = float(view_dropout)
        self.input_noise = float(input_noise)

    def fuse(self, views: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """(m, n_components): the fused vectors of views in the fusion's order."""
        return self.fusion(dict(zip(self.fusion.view_names, views)), mask)

    def forward(self, views: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """(m, n_outputs): logits or standardized predictions."""
        return self.head(self.fuse(views, mask))

    def _split(self, views: list[torch.Tensor],
               mask: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        return list(views[:-1]), mask[:, :-1], views[-1]

    def _loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.task == "classification":
            return F.cross_entropy(out, target[:, 0].long())
        return F.mse_loss(out, target)

    def training_loss(self, views: list[torch.Tensor], mask: torch.Tensor) -> dict[str, Any]:
        views, mask, target = self._split(views, mask)
        if self.view_dropout > 0:
            kept = mask & (torch.rand(mask.shape, device=mask.device) >= self.view_dropout)
            mask = torch.where(kept.any(dim=1, keepdim=True), kept, mask)
        if self.input_noise > 0:
            views = [v + self.input_noise * torch.randn_like(v) for v in views]
        return {"loss": self._loss(self(views, mask), target)}

    def validation_score(self, views: list[torch.Tensor], mask: torch.Tensor) -> float:
        views, mask, target = self._split(views, mask)
        out = self(views, mask)
        if self.task == "classification":
            return float((out.argmax(dim=1) == target[:, 0].long()).double().mean())
        return -float(F.mse_loss(out, target))


"""Distillation losses: a student joint space taught by a teacher's embeddings (e.g. the
MiniLM text space), each with its formula."""

from __future__ import annotations

import torch
from torch import nn

from jointspace.losses.contrastive import normalized


class EmbeddingDistillLoss(nn.Module):
    """Pull each student embedding towards its teacher embedding (both L2-normalized).

        "cosine": mean_i (1 − cos(s_i, t_i)),   "mse": mean_i ‖ŝ_i − t̂_i‖².

    Student and teacher must have the same width (a model maps its space to the teacher's
    with a learned linear layer when they differ).

    Args:
        kind: "cosine" or "mse".
    """

    def __init__(self, kind: str = "cosine"):
        super().__init__()
        if kind not in ("cosine", "mse"):
            raise ValueError(f"kind={kind!r}; expected 'cosine' or 'mse'")
        self.kind = kind

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """student, teacher (m, d) → scalar."""
        s, t = normalized(student), normalized(teacher)
        if self.kind == "cosine":
            return (1 - (s * t).sum(dim=1)).mean()
        return (s - t).pow(2).sum(dim=1).mean()


class SimilarityDistillLoss(nn.Module):
    """KL between the teacher's and the student's similarity distributions over a batch.

    With teacher embeddings T (one per pair, e.g. the caption's MiniLM vector) and student
    pairs A, B (all L2-normalized), row i's target is p_i = softmax_j(t_i·t_j / τ) and the
    student's q_i = softmax_j(a_i·b_j / τ); symmetrically for the B rows against the A
    columns:

        loss = ½ [ mean_i KL(p_i ‖ q_i^{AB}) + mean_i KL(p_i ‖ q_i^{BA}) ].

    Near-duplicate captions thus become soft positives rather than hard negatives.

    Args:
        temperature: τ of both distributions.
    """

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature={temperature}; expected > 0")
        self.temperature = temperature

    def forward(self, A: torch.Tensor, B: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """A, B (m, k) student pairs; teacher (m, d_t) → scalar."""
        T = normalized(teacher)
        target = torch.log_softmax(T @ T.mT / self.temperature, dim=1)
        S = normalized(A) @ normalized(B).mT / self.temperature
        kl = nn.functional.kl_div
        ab = kl(torch.log_softmax(S, dim=1), target, log_target=True, reduction="batchmean")
        ba = kl(torch.log_softmax(S.mT, dim=1), target, log_target=True, reduction="batchmean")
        return 0.5 * (ab + ba)


#: distillation names accepted by the contrastive models
DISTILL_LOSSES = ("cosine", "mse", "kl")

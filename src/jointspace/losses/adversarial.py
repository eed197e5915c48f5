"""Adversarial alignment of the views' embeddings (ACMR, Wang et al. 2017): a modality
discriminator learns to tell which view an embedding came from, and a gradient-reversal layer
makes the towers learn to fool it, so the views' embeddings become indistinguishable.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # noqa: ANN001
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ANN001
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The identity forward; the gradient multiplied by −``scale`` backward (Ganin &
    Lempitsky 2015)."""
    return _Reverse.apply(x, scale)


class ModalityDiscriminatorLoss(nn.Module):
    """A small MLP D learns to predict each embedding's view; the towers learn to defeat it.

    Both sides train in one backward pass:

    - ``mode="reversal"`` (ACMR, DANN): loss = CE(D(GRL(z)), view), the towers receiving the
      discriminator's gradient reversed (× −λ), i.e. they maximize its cross-entropy;
    - ``mode="confusion"`` (Tzeng et al. 2015): D minimizes CE(D(z̄), view) on detached
      embeddings, while the towers minimize the cross-entropy of D's prediction against the
      uniform distribution over views (D's weights held fixed for that term), so the
      embeddings are pushed to where D cannot tell, rather than to the other view's side.

    Means are over observed (row, view) pairs.

    Args:
        dim: width k of the embeddings.
        n_views: number of views (classes of the discriminator).
        hidden: the discriminator's hidden width.
        scale: the gradient-reversal factor λ ("reversal").
        mode: "confusion" or "reversal".
    """

    def __init__(self, dim: int, n_views: int, hidden: int = 64, scale: float = 1.0,
                 mode: str = "confusion"):
        super().__init__()
        if mode not in ("confusion", "reversal"):
            raise ValueError(f"mode={mode!r}; expected 'confusion' or 'reversal'")
        self.scale = scale
        self.mode = mode
        self.discriminator = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, n_views))

    def forward(self, embeddings: Sequence[torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """embeddings: one (m, k) tensor per view; mask optional (m, n_views) bool → scalar."""
        rows, targets = [], []
        for i, z in enumerate(embeddings):
            keep = slice(None) if mask is None else mask[:, i]
            rows.append(z[keep])
            targets.append(torch.full((len(rows[-1]),), i, dtype=torch.long, device=z.device))
        z, target = torch.cat(rows), torch.cat(targets)
        if self.mode == "reversal":
            logits = self.discriminator(reverse_gradient(z, self.scale))
            return nn.functional.cross_entropy(logits, target)
        own = nn.functional.cross_entropy(self.discriminator(z.detach()), target)
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        logits = torch.func.functional_call(self.discriminator, frozen, (z,))
        confusion = -nn.functional.log_softmax(logits, dim=1).mean(dim=1).mean()
        return own + confusion

    def accuracy(self, embeddings: Sequence[torch.Tensor]) -> float:
        """Share of embeddings whose view the discriminator names (chance: 1 / n_views)."""
        with torch.no_grad():
            logits = self.discriminator(torch.cat(list(embeddings)))
            targets = torch.cat([torch.full((len(z),), i) for i, z in enumerate(embeddings)])
            return float((logits.argmax(dim=1) == targets.to(logits.device)).float().mean())


def cycle_consistency(forward: nn.Module, backward: nn.Module, a: torch.Tensor,
                      b: torch.Tensor) -> torch.Tensor:
    """CycleGAN-style cycle loss between two embedding spaces: translate a → b → a and
    b → a → b, ‖backward(forward(a)) − a‖² + ‖forward(backward(b)) − b‖², mean over rows.

    forward: (m, k_a) → (m, k_b); backward: (m, k_b) → (m, k_a).
    """
    there_and_back = (backward(forward(a)) - a).pow(2).sum(dim=1)
    back_and_there = (forward(backward(b)) - b).pow(2).sum(dim=1)
    return (there_and_back + back_and_there).mean()

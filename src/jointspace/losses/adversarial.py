"""Adversarial alignment of the views' embeddings (ACMR, Wang et al. 2017): a modality
discriminator learns to tell which view an embedding came from, and a gradient-reversal layer
makes the towers learn to fool it, so the views' embeddings become indistinguishable; and
cycle-consistent translation between the views' embeddings (CycleGAN's cycle).
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


class CycleConsistencyLoss(nn.Module):
    """Translation between the views' embedding spaces, kept cycle-consistent (CycleGAN's
    cycle, Zhu et al. 2017, on embeddings): for every pair of views (i, j), small MLPs
    f: z_i → z_j and g: z_j → z_i learn to translate paired embeddings, and a round trip
    must come back: the loss is, over rows with both views,

        (‖f(a) − b‖² + ‖g(b) − a‖² + ‖g(f(a)) − a‖² + ‖f(g(b)) − b‖²) / k   (mean over rows),

    averaged over the pairs, on embeddings standardized over the rows (zero mean, unit
    variance per dimension). Divided by k, its size (about 4 at the start, 0 for perfect
    translators) does not grow with the width. Standardized, it cannot be lowered by
    shrinking the embeddings: unscaled, DCCA shrank its outputs (which its scale-free
    objective does not notice) and the test correlation sum fell from 44.2 to 21.2 at weight
    0.1. The towers receive its gradient too, so each view's embedding keeps what the other
    views need to be recovered from it.

    Args:
        dim: width k of the embeddings.
        n_views: number of views.
        hidden: the translators' hidden width.
    """

    def __init__(self, dim: int, n_views: int, hidden: int = 64):
        super().__init__()
        self.pairs = [(i, j) for i in range(n_views) for j in range(i + 1, n_views)]

        def translator() -> nn.Module:
            return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

        self.forward_maps = nn.ModuleList(translator() for _ in self.pairs)
        self.backward_maps = nn.ModuleList(translator() for _ in self.pairs)

    def forward(self, embeddings: Sequence[torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """embeddings: one (m, k) tensor per view; mask optional (m, n_views) bool → scalar
        (0 when fewer than 2 rows have both views of every pair)."""
        total, count = embeddings[0].new_zeros(()), 0
        for (i, j), f, g in zip(self.pairs, self.forward_maps, self.backward_maps):
            both = slice(None) if mask is None else mask[:, i] & mask[:, j]
            a, b = _standardized(embeddings[i][both]), _standardized(embeddings[j][both])
            if len(a) < 2:
                continue
            translation = ((f(a) - b).pow(2).sum(dim=1) + (g(b) - a).pow(2).sum(dim=1)).mean()
            total = total + (translation + cycle_consistency(f, g, a, b)) / a.shape[1]
            count += 1
        return total / max(count, 1)


def _standardized(z: torch.Tensor) -> torch.Tensor:
    """(m, k) → zero mean, unit variance per column over the rows (m ≥ 2)."""
    if len(z) < 2:
        return z
    return (z - z.mean(dim=0)) / (z.std(dim=0) + 1e-6)


class AlignmentTerms(nn.Module):
    """The training-only alignment terms a tower model can add to its loss: a modality
    discriminator (``adversarial`` weight) and cycle-consistent translators (``cycle``
    weight). Neither is part of a saved model.

    Args:
        dim, n_views: the embeddings' width and the number of views.
        adversarial, cycle: the terms' weights (0: not built).
    """

    def __init__(self, dim: int, n_views: int, adversarial: float = 0.0, cycle: float = 0.0):
        super().__init__()
        self.weights = {"adversarial": float(adversarial), "cycle": float(cycle)}
        self.terms = nn.ModuleDict()
        if adversarial > 0:
            self.terms["adversarial"] = ModalityDiscriminatorLoss(dim, n_views)
        if cycle > 0:
            self.terms["cycle"] = CycleConsistencyLoss(dim, n_views)

    def __bool__(self) -> bool:
        return len(self.terms) > 0

    def forward(self, terms: dict[str, torch.Tensor], embeddings: Sequence[torch.Tensor],
                mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``terms`` with each alignment term logged under its name and added, weighted, to
        ``terms["loss"]``."""
        terms = dict(terms)
        for name, term in self.terms.items():
            terms[name] = term(embeddings, mask)
            terms["loss"] = terms["loss"] + self.weights[name] * terms[name]
        return terms

"""Contrastive losses for paired embeddings A, B (m × k), each with its formula.

Every loss is computed from two *sides*: the A rows as anchors against the B candidates,
and the B rows against the A candidates. A side sees a cosine-similarity matrix S (anchors ×
candidates), a mask P of true pairs and a mask N of negatives. Beyond the batch, a side may
take extra negative candidates (:class:`Negatives`, e.g. a memory queue of past embeddings),
and ``top_k`` keeps only each anchor's k hardest negatives (in-batch hard-negative mining).

A true pair is never a negative: pairs sharing a group id (several captions of one image)
are positives, and queued embeddings of an anchor's own group are dropped from its
negatives.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn


def positive_mask(n: int, groups: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """(n, n) bool: pair (i, j) is a true pair. Without groups only the diagonal is; with
    groups (n,), every pair sharing a group id (several captions of one image)."""
    if groups is None:
        return torch.eye(n, dtype=torch.bool, device=device)
    return groups[:, None] == groups[None, :]


def normalized(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` (…, k) scaled to unit L2 norm."""
    return nn.functional.normalize(x, dim=-1)


@dataclass
class Negatives:
    """Extra negative candidates for one side: ``embeddings`` (q, k) and their ``groups`` (q,).

    A candidate whose group equals the anchor's group is a true pair seen earlier (the same
    sample in a previous batch, or another caption of the same image) and is never used as a
    negative.
    """

    embeddings: torch.Tensor
    groups: torch.Tensor


def hardest_negatives(S: torch.Tensor, negative: torch.Tensor, k: int) -> torch.Tensor:
    """(m, c) bool: the ``k`` most similar negatives of each row of S (fewer if it has fewer)."""
    k = min(k, S.shape[1])
    scores = S.detach().masked_fill(~negative, float("-inf"))
    keep = torch.zeros_like(negative)
    keep.scatter_(1, scores.topk(k, dim=1).indices, True)
    return keep & negative


class ContrastiveLoss(nn.Module, ABC):
    """Base of the contrastive losses: assembles the two sides, subclasses score a side."""

    @abstractmethod
    def side(self, S: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        """S (m, c) cosine similarities, positive / negative (m, c) bool → scalar."""

    def combine(self, ab: torch.Tensor, ba: torch.Tensor) -> torch.Tensor:
        """The loss from its two sides (the mean, unless a loss defines otherwise)."""
        return 0.5 * (ab + ba)

    def forward(
        self,
        A: torch.Tensor,
        B: torch.Tensor,
        groups: torch.Tensor | None = None,
        *,
        negatives_a: Negatives | None = None,
        negatives_b: Negatives | None = None,
        top_k: int | None = None,
    ) -> torch.Tensor:
        """The loss of a batch.

        Args:
            A, B: (m, k) paired embeddings (normalized here).
            groups: optional (m,) group ids; required with extra negatives, whose groups
                must use the same ids.
            negatives_a: extra B-kind candidates for the A anchors (e.g. queued texts).
            negatives_b: extra A-kind candidates for the B anchors (e.g. queued images).
            top_k: keep only each anchor's k hardest negatives (None: all).
        Returns:
            scalar.
        """
        if groups is None and (negatives_a is not None or negatives_b is not None):
            raise ValueError("extra negatives need the batch's groups (ids shared with them)")
        A, B = normalized(A), normalized(B)
        positive = positive_mask(len(A), groups, A.device)
        sides = []
        for anchors, candidates, extra in ((A, B, negatives_a), (B, A, negatives_b)):
            S, P, N = anchors @ candidates.mT, positive, ~positive
            if extra is not None:
                S = torch.cat([S, anchors @ normalized(extra.embeddings).mT], dim=1)
                P = torch.cat([P, torch.zeros_like(S[:, len(A) :], dtype=torch.bool)], dim=1)
                N = torch.cat([N, groups[:, None] != extra.groups[None, :]], dim=1)
            if top_k is not None:
                N = hardest_negatives(S, N, top_k)
            sides.append(self.side(S, P, N))
        return self.combine(*sides)


class InfoNCELoss(ContrastiveLoss):
    """Symmetric InfoNCE as in CLIP (Radford et al. 2021), with a learnable temperature.

    Logits l = exp(s)·S (the scale exp(s) clamped to at most ``max_scale``, as CLIP clamps
    it to 100). Each true pair (i, j) — just (i, i) without groups — is contrasted with the
    negatives N(i) of its row only, so another true pair of i is never a negative:

        ℓ(i, j) = −log( e^{l_ij} / (e^{l_ij} + Σ_{n∈N(i)} e^{l_in}) ),
        side = mean_i mean_{j∈P(i)} ℓ(i, j),   loss = ½ (side_AB + side_BA).

    Without groups or extra negatives this is exactly CLIP's loss.

    Args:
        init_temperature: initial τ (scale 1/τ); CLIP uses 0.07.
        max_scale: upper clamp of the scale 1/τ.
        learn_temperature: whether the temperature is a trained parameter.
    """

    def __init__(
        self,
        init_temperature: float = 0.07,
        max_scale: float = 100.0,
        learn_temperature: bool = True,
    ):
        super().__init__()
        self.log_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / init_temperature)), requires_grad=learn_temperature
        )
        self.max_scale = max_scale

    @property
    def scale(self) -> torch.Tensor:
        """exp(s), clamped to ``max_scale``."""
        return self.log_scale.exp().clamp(max=self.max_scale)

    def side(self, S: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        logits = self.scale * S
        negatives = logits.masked_fill(~negative, float("-inf")).logsumexp(dim=1, keepdim=True)
        terms = -(logits - torch.logaddexp(logits, negatives))
        per_row = (terms * positive).sum(dim=1) / positive.sum(dim=1)
        return per_row.mean()


class SigLIPLoss(ContrastiveLoss):
    """Pairwise sigmoid loss of SigLIP (Zhai et al. 2023), learnable scale and bias.

    Logits l = exp(s)·S + b, z = +1 for true pairs and −1 for negatives:

        side = −Σ_{ij} log σ(z_ij l_ij) / m,   loss = ½ (side_AB + side_BA),

    which on a plain batch is SigLIP's −Σ_ij log σ(z_ij l_ij) / m.

    Args:
        init_scale, init_bias: SigLIP's 10 and −10.
    """

    def __init__(self, init_scale: float = 10.0, init_bias: float = -10.0):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))
        self.bias = nn.Parameter(torch.tensor(float(init_bias)))

    @property
    def scale(self) -> torch.Tensor:
        """exp(s)."""
        return self.log_scale.exp()

    def side(self, S: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        logits = self.scale * S + self.bias
        log_sig = nn.functional.logsigmoid
        terms = log_sig(logits) * positive + log_sig(-logits) * negative
        return -terms.sum() / len(S)


class VSEHingeLoss(ContrastiveLoss):
    """VSE++ hinge loss (Faghri et al. 2018) in both directions, on cosine similarities.

    For each pair (i, i) and each negative j of anchor i, the cost [α − s_ii + s_ij]₊ is
    summed over negatives (``reduction="sum"``) or only the hardest one counts (``"max"``,
    max-violation); a side is the mean over its m anchors, the loss the sum of both sides.

    Args:
        margin: α.
        reduction: "sum" or "max".
    """

    def __init__(self, margin: float = 0.2, reduction: str = "max"):
        super().__init__()
        if reduction not in ("sum", "max"):
            raise ValueError(f"reduction={reduction!r}; expected 'sum' or 'max'")
        self.margin = margin
        self.reduction = reduction

    def side(self, S: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        diag = S[:, : len(S)].diagonal()
        cost = (self.margin - diag[:, None] + S).clamp(min=0) * negative
        per_row = cost.max(dim=1).values if self.reduction == "max" else cost.sum(dim=1)
        return per_row.mean()

    def combine(self, ab: torch.Tensor, ba: torch.Tensor) -> torch.Tensor:
        return ab + ba


#: loss names accepted by the contrastive models
CONTRASTIVE_LOSSES: dict[str, type[ContrastiveLoss]] = {
    "infonce": InfoNCELoss,
    "siglip": SigLIPLoss,
    "vse": VSEHingeLoss,
}

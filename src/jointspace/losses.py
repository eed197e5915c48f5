"""Losses as small torch modules, each with its formula. Every loss returns a scalar to minimize.

Correlation losses work on a minibatch of network outputs H_i (m × k_i). Covariances carry a
ridge r·I so that they stay invertible for any batch: smaller than the output dimension,
with constant features, with duplicated samples.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _centered(H: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """H minus its column means over the observed rows; unobserved rows become 0."""
    if mask is None:
        return H - H.mean(dim=0, keepdim=True)
    w = mask.to(H.dtype)[:, None]
    mean = (H * w).sum(dim=0, keepdim=True) / w.sum().clamp_min(1.0)
    return (H - mean) * w


def _inv_sqrt_factor(C: torch.Tensor) -> torch.Tensor:
    """F with Fᵀ C F = I for a symmetric positive-definite C: the inverse Cholesky factor L⁻ᵀ.

    Its gradient stays finite where an eigendecomposition's would not (repeated eigenvalues).
    """
    L = torch.linalg.cholesky(C)
    eye = torch.eye(C.shape[0], dtype=C.dtype, device=C.device)
    return torch.linalg.solve_triangular(L, eye, upper=False).mT


class CCALoss(nn.Module):
    """Deep CCA objective (Andrew et al. 2013): minus the sum of the top-k canonical correlations.

    With centered outputs H̄_i, Σ_ij = H̄_iᵀH̄_j / (m − 1) and C_i = Σ_ii + r·I,

        T = L₁⁻¹ Σ₁₂ L₂⁻ᵀ   (C_i = L_i L_iᵀ, Cholesky),
        loss = − Σ_{j ≤ k} σ_j(T),

    the σ_j being the canonical correlations of the batch. The gradient flows through the
    singular values only (U_k V_kᵀ), which is finite even when they repeat.

    Args:
        n_components: k, how many correlations count (None: all).
        reg: ridge r on each covariance.
    """

    def __init__(self, n_components: int | None = None, reg: float = 1e-3):
        super().__init__()
        self.n_components = n_components
        self.reg = reg

    def correlations(self, H1: torch.Tensor, H2: torch.Tensor) -> torch.Tensor:
        """The canonical correlations of the batch, descending, shape (min(k1, k2),)."""
        m = H1.shape[0]
        A, B = _centered(H1), _centered(H2)
        C1 = A.mT @ A / (m - 1) + self.reg * torch.eye(A.shape[1], dtype=A.dtype, device=A.device)
        C2 = B.mT @ B / (m - 1) + self.reg * torch.eye(B.shape[1], dtype=B.dtype, device=B.device)
        T = _inv_sqrt_factor(C1).mT @ (A.mT @ B / (m - 1)) @ _inv_sqrt_factor(C2)
        return torch.linalg.svdvals(T)

    def forward(self, H1: torch.Tensor, H2: torch.Tensor) -> torch.Tensor:
        """H1 (m, k1), H2 (m, k2) → scalar loss."""
        return -self.correlations(H1, H2)[: self.n_components].sum()


class GCCALoss(nn.Module):
    """Deep generalized CCA objective (Benton et al. 2019, DGCCA), with missing views.

    For J views with observed-row masks K_j, M = Σ_j K_j H̄_j C_j⁻¹ H̄_jᵀ K_j (m × m), where
    C_j = H̄_jᵀK_jH̄_j/(m − 1) + r·I. The shared representation G holds M's top-k
    eigenvectors and the GCCA reconstruction error is k·J − Σ_{j ≤ k} λ_j(M), so

        loss = − Σ_{j ≤ k} λ_j(M) / J.

    M's nonzero spectrum equals that of the (Σk_j × Σk_j) matrix FᵀΣF with
    F = blockdiag(C_j^{-1/2}) and Σ_ij = H̄_iᵀK_iK_jH̄_j/(m − 1), which is what is computed.
    For two fully observed views λ_j = 1 + ρ_j.

    Args:
        n_components: k (None: all).
        reg: ridge r on each covariance.
    """

    def __init__(self, n_components: int | None = None, reg: float = 1e-3):
        super().__init__()
        self.n_components = n_components
        self.reg = reg

    def eigenvalues(self, Hs: list[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        """Eigenvalues of M, descending. ``mask`` (m, J) bool marks observed views."""
        m = Hs[0].shape[0]
        cols = [None if mask is None else mask[:, j] for j in range(len(Hs))]
        centered = [_centered(H, c) for H, c in zip(Hs, cols)]
        whitened = []
        for A in centered:
            eye = torch.eye(A.shape[1], dtype=A.dtype, device=A.device)
            C = A.mT @ A / (m - 1) + self.reg * eye
            whitened.append(A @ _inv_sqrt_factor(C))  # H̄_j F_j, (m, k_j)
        W = torch.cat(whitened, dim=1)
        M = W.mT @ W / (m - 1)
        return torch.linalg.eigvalsh(M).flip(0)

    def forward(self, Hs: list[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        """Hs: J tensors (m, k_j); mask: optional (m, J) bool → scalar loss."""
        return -self.eigenvalues(Hs, mask)[: self.n_components].sum() / len(Hs)


class ReconstructionLoss(nn.Module):
    """Mean reconstruction error over observed rows: "mse" ‖x − x̂‖²/d or "bce" (x in [0, 1],
    x̂ given as logits), averaged over samples.

    Args:
        kind: "mse" or "bce".
    """

    def __init__(self, kind: str = "mse"):
        super().__init__()
        if kind not in ("mse", "bce"):
            raise ValueError(f"kind={kind!r}; expected 'mse' or 'bce'")
        self.kind = kind

    def forward(
        self, X_hat: torch.Tensor, X: torch.Tensor, observed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """X_hat, X (m, d); observed optional (m,) bool → scalar."""
        if self.kind == "mse":
            per_row = (X_hat - X).pow(2).mean(dim=1)
        else:
            per_row = nn.functional.binary_cross_entropy_with_logits(
                X_hat, X, reduction="none"
            ).mean(dim=1)
        if observed is None:
            return per_row.mean()
        w = observed.to(per_row.dtype)
        return (per_row * w).sum() / w.sum().clamp_min(1.0)


# ------------------------------------------------------------------ contrastive losses
def positive_mask(n: int, groups: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """(n, n) bool: pair (i, j) is a true pair. Without groups only the diagonal is; with
    groups (n,), every pair sharing a group id (several captions of one image)."""
    if groups is None:
        return torch.eye(n, dtype=torch.bool, device=device)
    return groups[:, None] == groups[None, :]


def _normalized(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.normalize(x, dim=-1)


class InfoNCELoss(nn.Module):
    """Symmetric InfoNCE as in CLIP (Radford et al. 2021), with a learnable temperature.

    With L2-normalized A, B (m × k) and logits l = exp(s)·A Bᵀ (the scale exp(s) clamped to
    at most ``max_scale``, as CLIP clamps it to 100). Each true pair (i, j) — just (i, i)
    without groups — is contrasted with the negatives N(i) of its row only, so another true
    pair of i (a second caption of the same image) is never a negative:

        ℓ_row(i, j) = −log( e^{l_ij} / (e^{l_ij} + Σ_{n∈N(i)} e^{l_in}) ),
        loss = ½ [ mean_i mean_{j∈P(i)} ℓ_row(i, j) + the same over columns ].

    Without groups this is exactly CLIP's loss.

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

    @staticmethod
    def _one_side(logits: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
        """Mean over rows of the mean over each row's true pairs of ℓ_row."""
        negatives = logits.masked_fill(positive, float("-inf")).logsumexp(dim=1, keepdim=True)
        terms = -(logits - torch.logaddexp(logits, negatives))
        per_row = (terms * positive).sum(dim=1) / positive.sum(dim=1)
        return per_row.mean()

    def forward(
        self, A: torch.Tensor, B: torch.Tensor, groups: torch.Tensor | None = None
    ) -> torch.Tensor:
        """A, B (m, k) paired embeddings; groups optional (m,) → scalar."""
        logits = self.scale * _normalized(A) @ _normalized(B).mT
        positive = positive_mask(len(A), groups, A.device)
        return 0.5 * (self._one_side(logits, positive) + self._one_side(logits.mT, positive.mT))


class SigLIPLoss(nn.Module):
    """Pairwise sigmoid loss of SigLIP (Zhai et al. 2023), learnable scale and bias.

    With L2-normalized A, B, logits l_ij = exp(s)·a_i·b_j + b and z_ij = +1 for true pairs,
    −1 otherwise:  loss = −Σ_ij log σ(z_ij l_ij) / m.

    Args:
        init_scale, init_bias: SigLIP's 10 and −10.
    """

    def __init__(self, init_scale: float = 10.0, init_bias: float = -10.0):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))
        self.bias = nn.Parameter(torch.tensor(float(init_bias)))

    def forward(
        self, A: torch.Tensor, B: torch.Tensor, groups: torch.Tensor | None = None
    ) -> torch.Tensor:
        """A, B (m, k); groups optional (m,) → scalar."""
        logits = self.log_scale.exp() * _normalized(A) @ _normalized(B).mT + self.bias
        z = positive_mask(len(A), groups, A.device).to(logits.dtype) * 2 - 1
        return -nn.functional.logsigmoid(z * logits).sum() / len(A)


class VSEHingeLoss(nn.Module):
    """VSE++ hinge loss (Faghri et al. 2018) in both directions, on cosine similarities.

    For each pair (i, i) and each negative j (not a true pair of i):
        image→text [α − s_ii + s_ij]₊ and text→image [α − s_ii + s_ji]₊,
    summed over negatives (``reduction="sum"``) or only the hardest negative per pair
    (``"max"``, max-violation), averaged over the m pairs.

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

    def forward(
        self, A: torch.Tensor, B: torch.Tensor, groups: torch.Tensor | None = None
    ) -> torch.Tensor:
        """A, B (m, k); groups optional (m,) → scalar."""
        S = _normalized(A) @ _normalized(B).mT
        diag = S.diagonal()
        negative = ~positive_mask(len(A), groups, A.device)
        cost_ab = (self.margin - diag[:, None] + S).clamp(min=0) * negative
        cost_ba = (self.margin - diag[None, :] + S).clamp(min=0) * negative
        if self.reduction == "max":
            return (cost_ab.max(dim=1).values + cost_ba.max(dim=0).values).mean()
        return (cost_ab.sum(dim=1) + cost_ba.sum(dim=0)).mean()

"""Correlation and reconstruction losses, each with its formula; each returns a scalar to minimize.

Correlation losses work on a minibatch of network outputs H_i (m × k_i). Covariances carry a
ridge r·I so that they stay invertible for any batch: smaller than the output dimension,
with constant features, with duplicated samples.
"""

from __future__ import annotations

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

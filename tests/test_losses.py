"""Each loss against a direct reference computation (numpy, float64), and its robustness."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from jointspace.losses import CCALoss, GCCALoss, ReconstructionLoss
from jointspace.models.linear import solvers


def _reference_correlations(X1: np.ndarray, X2: np.ndarray, reg: float) -> np.ndarray:
    """ρ_j² are the eigenvalues of C1⁻¹Σ12C2⁻¹Σ21 (C_i = Σ_ii + rI)."""
    S = np.cov(np.hstack([X1, X2]).T)
    d1 = X1.shape[1]
    C1 = S[:d1, :d1] + reg * np.eye(d1)
    C2 = S[d1:, d1:] + reg * np.eye(S.shape[0] - d1)
    S12 = S[:d1, d1:]
    rho2 = scipy.linalg.eigvalsh(S12 @ np.linalg.solve(C2, S12.T), C1)[::-1]
    return np.sqrt(np.clip(rho2[: min(X1.shape[1], X2.shape[1])], 0, None))


@pytest.mark.parametrize("reg", [1e-6, 1e-3, 0.1])
def test_cca_loss_matches_closed_form(rng, reg):
    X1 = rng.normal(size=(200, 6))
    X2 = X1[:, :4] @ rng.normal(size=(4, 5)) + rng.normal(size=(200, 5))
    corr = CCALoss(reg=reg).correlations(torch.tensor(X1), torch.tensor(X2)).numpy()
    np.testing.assert_allclose(corr, _reference_correlations(X1, X2, reg), atol=1e-8)
    loss = CCALoss(n_components=3, reg=reg)(torch.tensor(X1), torch.tensor(X2))
    assert float(loss) == pytest.approx(-corr[:3].sum(), abs=1e-10)


def test_cca_loss_gradient_matches_finite_differences(rng):
    X1 = torch.tensor(rng.normal(size=(50, 4)), requires_grad=True)
    X2 = torch.tensor(rng.normal(size=(50, 3)) + X1.detach().numpy()[:, :3])
    assert torch.autograd.gradcheck(lambda a: CCALoss(2, reg=1e-3)(a, X2), (X1,))


def test_gcca_loss_matches_solver_and_two_view_identity(rng):
    Xs = [rng.normal(size=(300, d)) for d in (5, 4, 6)]
    Xs[1][:, :2] += Xs[0][:, :2]
    Xs[2][:, :3] += Xs[0][:, 1:4]
    reg = 1e-2
    eig = GCCALoss(reg=reg).eigenvalues([torch.tensor(x) for x in Xs]).numpy()
    cov = np.cov(np.hstack(Xs).T)
    reference = solvers.solve_gcca(cov, [5, 4, 6], [reg] * 3, k=15).objective
    np.testing.assert_allclose(eig, reference, atol=1e-8)
    # two views, no ridge: the eigenvalues are 1 ± ρ
    a, b = torch.tensor(Xs[0]), torch.tensor(Xs[1])
    rho = CCALoss(reg=1e-12).correlations(a, b).numpy()
    lam = GCCALoss(reg=1e-12).eigenvalues([a, b]).numpy()
    np.testing.assert_allclose(lam[:4], 1 + rho, atol=1e-6)
    assert torch.autograd.gradcheck(
        lambda x: GCCALoss(3, reg=1e-2)([x, b]), (a.clone().requires_grad_(True),)
    )


def test_gcca_loss_ignores_masked_rows(rng):
    Xs = [torch.tensor(rng.normal(size=(100, 3))) for _ in range(3)]
    mask = torch.ones(100, 3, dtype=torch.bool)
    mask[:30, 2] = False
    loss = GCCALoss(2)(Xs, mask)
    garbage = Xs[2].clone()
    garbage[:30] = 1e6
    assert torch.allclose(GCCALoss(2)([Xs[0], Xs[1], garbage], mask), loss)
    assert not torch.allclose(GCCALoss(2)(Xs), loss)


@pytest.mark.parametrize(
    "case", ["batch smaller than outputs", "constant features", "duplicated samples"]
)
@pytest.mark.parametrize(
    "loss", [CCALoss(10, reg=1e-3), GCCALoss(10, reg=1e-3)], ids=["cca", "gcca"]
)
def test_losses_finite_on_degenerate_batches(rng, case, loss):
    m = 6 if case == "batch smaller than outputs" else 64
    leaf1 = torch.tensor(rng.normal(size=(m, 20)), dtype=torch.float32, requires_grad=True)
    leaf2 = torch.tensor(rng.normal(size=(m, 20)), dtype=torch.float32, requires_grad=True)
    H1, H2 = leaf1, leaf2
    if case == "constant features":
        H1 = H1 * torch.cat([torch.zeros(10), torch.ones(10)])  # 10 constant (zero) columns
    if case == "duplicated samples":
        H1, H2 = H1[:8].repeat(8, 1), H2[:8].repeat(8, 1)
    value = loss(H1, H2) if isinstance(loss, CCALoss) else loss([H1, H2])
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(leaf1.grad).all() and torch.isfinite(leaf2.grad).all()
    assert leaf2.grad.abs().sum() > 0  # the gradient is not silently zero


def test_reconstruction_loss(rng):
    X = torch.tensor(rng.random(size=(20, 7)))
    Y = torch.tensor(rng.normal(size=(20, 7)))
    assert float(ReconstructionLoss("mse")(Y, X)) == pytest.approx(float(((Y - X) ** 2).mean()))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(Y, X)
    assert float(ReconstructionLoss("bce")(Y, X)) == pytest.approx(float(bce))
    observed = torch.arange(20) < 10
    expected = ((Y - X) ** 2)[:10].mean()
    assert float(ReconstructionLoss("mse")(Y, X, observed)) == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="kind='l1'; expected 'mse' or 'bce'"):
        ReconstructionLoss("l1")

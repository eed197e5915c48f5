"""Contrastive losses against direct reference computations (explicit loops, float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from jointspace.losses import InfoNCELoss, SigLIPLoss, VSEHingeLoss


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _batch(rng, m=9, k=5, with_groups=True):
    A, B = rng.normal(size=(m, k)), rng.normal(size=(m, k))
    groups = np.array([0, 0, 1, 2, 2, 2, 3, 4, 4])[:m] if with_groups else np.arange(m)
    return A, B, groups


def _infonce_reference(A, B, groups, scale):
    """Each true pair against its row's (column's) negatives only."""
    S = scale * _unit(A) @ _unit(B).T
    m = len(A)

    def side(L):
        total = 0.0
        for i in range(m):
            pos = [j for j in range(m) if groups[i] == groups[j]]
            neg = sum(math.exp(L[i, n]) for n in range(m) if groups[n] != groups[i])
            total += sum(
                -math.log(math.exp(L[i, j]) / (math.exp(L[i, j]) + neg)) for j in pos
            ) / len(pos)
        return total / m

    return 0.5 * (side(S) + side(S.T))


def _siglip_reference(A, B, groups, scale, bias):
    S = scale * _unit(A) @ _unit(B).T + bias
    m = len(A)
    total = 0.0
    for i in range(m):
        for j in range(m):
            z = 1.0 if groups[i] == groups[j] else -1.0
            total += math.log(1 + math.exp(-z * S[i, j]))
    return total / m


def _vse_reference(A, B, groups, margin, reduction):
    S = _unit(A) @ _unit(B).T
    m = len(A)
    total = 0.0
    for i in range(m):
        negs = [j for j in range(m) if groups[j] != groups[i]]
        ab = [max(0.0, margin - S[i, i] + S[i, j]) for j in negs] or [0.0]
        ba = [max(0.0, margin - S[i, i] + S[j, i]) for j in negs] or [0.0]
        total += (max(ab) + max(ba)) if reduction == "max" else (sum(ab) + sum(ba))
    return total / m


@pytest.mark.parametrize("with_groups", [False, True], ids=["paired", "multi-positive"])
def test_infonce_matches_reference_values_and_gradients(rng, with_groups):
    A, B, groups = _batch(rng, with_groups=with_groups)
    loss_fn = InfoNCELoss(init_temperature=0.1).double()
    scale = float(loss_fn.scale)  # 10, up to the float32 rounding of its initial value
    a, b = torch.tensor(A, requires_grad=True), torch.tensor(B)
    value = loss_fn(a, b, torch.tensor(groups))
    reference = _infonce_reference(A, B, groups, scale)
    assert float(value.detach()) == pytest.approx(reference, abs=1e-10)
    value.backward()
    eps, numeric = 1e-6, np.zeros_like(A)
    for idx in np.ndindex(*A.shape):
        up, down = A.copy(), A.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (
            _infonce_reference(up, B, groups, 10.0) - _infonce_reference(down, B, groups, 10.0)
        ) / (2 * eps)
    np.testing.assert_allclose(a.grad.numpy(), numeric, atol=1e-6)


def test_infonce_temperature_is_learned_and_clamped(rng):
    A, B, _ = _batch(rng)
    loss_fn = InfoNCELoss(init_temperature=0.001).double()  # scale 1000 → clamped to 100
    assert float(loss_fn.scale) == pytest.approx(100.0)
    ref = _infonce_reference(A, B, np.arange(len(A)), 100.0)
    assert float(loss_fn(torch.tensor(A), torch.tensor(B))) == pytest.approx(ref, abs=1e-9)
    free = InfoNCELoss().double()
    free(torch.tensor(A), torch.tensor(B)).backward()
    assert free.log_scale.grad is not None and float(free.log_scale.grad) != 0.0


def test_multi_positive_pairs_are_pulled_together(rng):
    """Samples 0 and 1 are one image (A0 = A1) with two captions (group 0): the loss is lower
    when the second caption agrees with the image than when it opposes it. (The exact
    masking of true pairs is checked against the loop references above.)"""
    A, B = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    A[1] = A[0]
    groups = torch.tensor([0, 0, 1, 2, 3, 4])
    aligned, opposite = B.copy(), B.copy()
    aligned[1], opposite[1] = A[0], -A[0]
    for loss_fn in (InfoNCELoss().double(), SigLIPLoss().double(), VSEHingeLoss(reduction="sum")):

        def value(b, fn=loss_fn):
            return float(fn(torch.tensor(A), torch.tensor(b), groups).detach())

        assert value(aligned) < value(opposite), type(loss_fn).__name__


@pytest.mark.parametrize("with_groups", [False, True], ids=["paired", "multi-positive"])
def test_siglip_matches_reference(rng, with_groups):
    A, B, groups = _batch(rng, with_groups=with_groups)
    loss_fn = SigLIPLoss(init_scale=10.0, init_bias=-10.0).double()
    scale = float(loss_fn.log_scale.exp())
    a = torch.tensor(A, requires_grad=True)
    value = loss_fn(a, torch.tensor(B), torch.tensor(groups))
    reference = _siglip_reference(A, B, groups, scale, -10.0)
    assert float(value.detach()) == pytest.approx(reference, abs=1e-9)
    value.backward()
    assert torch.isfinite(a.grad).all() and float(loss_fn.bias.grad) != 0.0
    assert torch.autograd.gradcheck(
        lambda x: loss_fn(x, torch.tensor(B), torch.tensor(groups)),
        (torch.tensor(A, requires_grad=True),),
    )


@pytest.mark.parametrize("reduction", ["sum", "max"])
@pytest.mark.parametrize("with_groups", [False, True], ids=["paired", "multi-positive"])
def test_vse_hinge_matches_reference(rng, reduction, with_groups):
    A, B, groups = _batch(rng, with_groups=with_groups)
    loss_fn = VSEHingeLoss(margin=0.2, reduction=reduction)
    value = loss_fn(torch.tensor(A), torch.tensor(B), torch.tensor(groups))
    assert float(value) == pytest.approx(_vse_reference(A, B, groups, 0.2, reduction), abs=1e-10)
    with pytest.raises(ValueError, match="reduction='mean'; expected 'sum' or 'max'"):
        VSEHingeLoss(reduction="mean")

"""Adversarial alignment: the gradient-reversal layer, both discriminator games against a
direct computation of their gradients, the cycle loss, and the option on the deep models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from jointspace import load_dataset
from jointspace.losses.adversarial import (
    AlignmentTerms,
    CycleConsistencyLoss,
    ModalityDiscriminatorLoss,
    cycle_consistency,
    reverse_gradient,
)
from jointspace.models import DCCA, ContrastiveDualEncoder, JointModel


def test_gradient_reversal_is_the_identity_forward_and_flips_the_gradient():
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 3, dtype=torch.float64)
    y = reverse_gradient(x, 0.5)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    torch.testing.assert_close(x.grad, -0.5 * w)


def _embeddings(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(8, 4, generator=g, dtype=torch.float64, requires_grad=True) + i
        for i in range(2)
    ]


def _plain_ce(loss, Z):
    logits = loss.discriminator(torch.cat(Z))
    target = torch.cat([torch.full((len(z),), i) for i, z in enumerate(Z)])
    return nn.functional.cross_entropy(logits, target)


def test_reversal_trains_the_discriminator_as_usual_and_the_towers_against_it():
    torch.manual_seed(0)
    loss = ModalityDiscriminatorLoss(4, 2, hidden=6, scale=0.7, mode="reversal").double()
    Z = [z.detach().requires_grad_() for z in _embeddings()]
    loss(Z).backward()
    got_d = [p.grad.clone() for p in loss.parameters()]
    got_z = [z.grad.clone() for z in Z]
    loss.zero_grad()
    W = [z.detach().requires_grad_() for z in Z]
    _plain_ce(loss, W).backward()
    for a, p in zip(got_d, loss.parameters()):
        torch.testing.assert_close(a, p.grad)
    for a, w in zip(got_z, W):
        torch.testing.assert_close(a, -0.7 * w.grad)


def test_confusion_trains_the_discriminator_on_the_views_and_the_towers_towards_uniform():
    torch.manual_seed(0)
    loss = ModalityDiscriminatorLoss(4, 2, hidden=6, mode="confusion").double()
    Z = [z.detach().requires_grad_() for z in _embeddings()]
    value = loss(Z)
    value.backward()
    got_d = [p.grad.clone() for p in loss.parameters()]
    got_z = [z.grad.clone() for z in Z]
    # the discriminator's gradient: plain cross-entropy on the views
    loss.zero_grad()
    _plain_ce(loss, [z.detach() for z in Z]).backward()
    for a, p in zip(got_d, loss.parameters()):
        torch.testing.assert_close(a, p.grad)
    # the towers' gradient: cross-entropy against the uniform distribution, D fixed
    W = [z.detach().requires_grad_() for z in Z]
    log_p = torch.log_softmax(loss.discriminator(torch.cat(W)), dim=1)
    (-log_p.mean()).backward()
    for a, w in zip(got_z, W):
        torch.testing.assert_close(a, w.grad)
    with torch.no_grad():
        expected = _plain_ce(loss, Z) - log_p.mean()
    assert float(value.detach()) == pytest.approx(float(expected))


def test_cycle_consistency_against_its_formula():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(6, 3, generator=g), torch.randn(6, 5, generator=g)
    forward, backward = nn.Linear(3, 5), nn.Linear(5, 3)
    expected = np.mean(
        [
            float(
                ((backward(forward(a[i])) - a[i]) ** 2).sum()
                + ((forward(backward(b[i])) - b[i]) ** 2).sum()
            )
            for i in range(6)
        ]
    )
    assert float(cycle_consistency(forward, backward, a, b)) == pytest.approx(expected, rel=1e-5)


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("mnist-halves")
    return data.subset(np.arange(0, 5000, 5)[:800])


@pytest.mark.parametrize(
    "model",
    [
        DCCA(5, hidden=(32,), adversarial=0.5, training={"epochs": 3, "progress": False}),
        ContrastiveDualEncoder(
            8, hidden=(32,), adversarial=0.5, training={"epochs": 3, "progress": False}
        ),
    ],
    ids=["DCCA", "dual-encoder"],
)
def test_the_option_trains_a_discriminator_and_leaves_it_out_of_the_model(model, digits, tmp_path):
    model.fit(digits)
    terms = [row["adversarial"] for row in model.history_]
    # the discriminator plays: its cross-entropy plus the towers' confusion term are logged,
    # near 2·ln 2 when neither side wins
    assert all(math.isfinite(t) for t in terms) and 0.5 < terms[-1] < 3.0
    model.save(tmp_path / "m")
    loaded = JointModel.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.transform(digits)[0], model.transform(digits)[0])
    assert not any("adversar" in k for k in model.network_.state_dict())


def test_the_cycle_loss_over_pairs_of_views_against_a_loop():
    """Translation plus round trip for every pair of views, on the rows that have both;
    a missing view's slots (NaN) are never read."""
    g = torch.Generator().manual_seed(5)
    Z = [torch.randn(7, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    mask = torch.ones(7, 3, dtype=torch.bool)
    mask[:3, 2] = False
    mask[5, 0] = False
    loss = CycleConsistencyLoss(4, 3).double()
    holed = [torch.where(mask[:, [i]], z, torch.nan) for i, z in enumerate(Z)]
    value = loss(holed, mask)
    per_pair = []
    for (i, j), f, b in zip(loss.pairs, loss.forward_maps, loss.backward_maps):
        rows = [r for r in range(7) if mask[r, i] and mask[r, j]]
        # standardized over the pair's rows: numpy's mean and sample standard deviation
        x, y = (torch.as_tensor((Z[v][rows].numpy() - Z[v][rows].numpy().mean(0))
                                / (Z[v][rows].numpy().std(0, ddof=1) + 1e-6)) for v in (i, j))
        per_pair.append(np.mean([float(
            ((f(x[r]) - y[r]) ** 2).sum() + ((b(y[r]) - x[r]) ** 2).sum()
            + ((b(f(x[r])) - x[r]) ** 2).sum() + ((f(b(y[r])) - y[r]) ** 2).sum()) / 4
            for r in range(len(rows))]))
    assert loss.pairs == [(0, 1), (0, 2), (1, 2)]
    assert float(value) == pytest.approx(np.mean(per_pair), rel=1e-10)
    # scale-free: shrinking the embeddings cannot lower it
    assert float(loss([0.01 * z for z in holed], mask)) == pytest.approx(float(value), rel=1e-3)


def test_alignment_terms_add_each_weighted_term_and_log_it():
    g = torch.Generator().manual_seed(6)
    Z = [torch.randn(9, 4, generator=g) for _ in range(2)]
    terms = AlignmentTerms(4, 2, adversarial=0.5, cycle=2.0)
    out = terms({"loss": torch.tensor(1.0)}, Z)
    expected = 1.0 + 0.5 * float(out["adversarial"]) + 2.0 * float(out["cycle"])
    assert float(out["loss"]) == pytest.approx(expected)
    assert float(out["cycle"]) == pytest.approx(float(terms.terms["cycle"](Z)))
    assert not AlignmentTerms(4, 2)  # no weight, no term
    assert AlignmentTerms(4, 2)({"loss": torch.tensor(1.0)}, Z) == {"loss": torch.tensor(1.0)}


@pytest.mark.parametrize(
    "model",
    [
        DCCA(5, hidden=(32,), cycle=1.0, training={"epochs": 4, "progress": False}),
        ContrastiveDualEncoder(8, hidden=(32,), cycle=1.0,
                               training={"epochs": 4, "progress": False}),
    ],
    ids=["DCCA", "dual-encoder"],
)
def test_the_cycle_option_trains_translators_and_leaves_them_out_of_the_model(model, digits,
                                                                              tmp_path):
    model.fit(digits)
    cycle = [row["cycle"] for row in model.history_]
    assert all(math.isfinite(t) for t in cycle) and cycle[-1] < cycle[0]  # they learn
    model.save(tmp_path / "m")
    loaded = JointModel.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.transform(digits)[0], model.transform(digits)[0])
    assert not any("cycle" in k or "alignment" in k for k in model.network_.state_dict())

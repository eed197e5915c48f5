"""SigLIP and VSE++ beyond the plain batch — a memory queue of past embeddings (MoCo-style)
and top-k hard negatives — against references written as plain loops over pairs (float64).

(InfoNCE with a queue and top-k is checked in test_dual_encoder.py; the plain-batch losses
in test_contrastive_losses.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from jointspace.losses import Negatives, SigLIPLoss, VSEHingeLoss


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _cos(u, v) -> float:
    return float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))


def _case(seed: int = 0):
    """A batch of 8 with two multi-caption groups, and a queue of 7 past embeddings per side
    whose groups 0, 1 and 3 are the batch's own (true pairs seen earlier)."""
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    groups = np.array([0, 0, 1, 2, 3, 3, 4, 5])
    QA, QB = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    qgroups = np.array([1, 7, 0, 8, 9, 3, 10])
    return A, B, groups, QA, QB, qgroups


def _candidates(anchors_i, cands, queue, groups, qgroups, i, top_k):
    """For anchor i: its positives (batch columns of its group) and negatives (batch columns
    of other groups, then queued rows of other groups), as lists of cosine similarities;
    with top_k only the k most similar negatives."""
    m = len(cands)
    pos = [_cos(anchors_i, cands[j]) for j in range(m) if groups[j] == groups[i]]
    neg = [_cos(anchors_i, cands[j]) for j in range(m) if groups[j] != groups[i]]
    if queue is not None:
        neg += [_cos(anchors_i, queue[q]) for q in range(len(queue)) if qgroups[q] != groups[i]]
    if top_k is not None:
        neg = sorted(neg, reverse=True)[:top_k]
    return pos, neg


def _siglip_side(anchors, cands, queue, groups, qgroups, scale, bias, top_k):
    total = 0.0
    for i in range(len(anchors)):
        pos, neg = _candidates(anchors[i], cands, queue, groups, qgroups, i, top_k)
        for s in pos:  # −log σ(l) = log(1 + e^{−l})
            total += math.log1p(math.exp(-(scale * s + bias)))
        for s in neg:  # −log σ(−l) = log(1 + e^{l})
            total += math.log1p(math.exp(scale * s + bias))
    return total / len(anchors)


def siglip_reference(A, B, groups, QA, QB, qgroups, scale, bias, top_k=None):
    ab = _siglip_side(A, B, QB, groups, qgroups, scale, bias, top_k)
    ba = _siglip_side(B, A, QA, groups, qgroups, scale, bias, top_k)
    return 0.5 * (ab + ba)


def _vse_side(anchors, cands, queue, groups, qgroups, margin, reduction, top_k):
    total = 0.0
    for i in range(len(anchors)):
        _, neg = _candidates(anchors[i], cands, queue, groups, qgroups, i, top_k)
        own = _cos(anchors[i], cands[i])  # the hinge's positive is the pair (i, i) itself
        costs = [max(0.0, margin - own + s) for s in neg] or [0.0]
        total += max(costs) if reduction == "max" else sum(costs)
    return total / len(anchors)


def vse_reference(A, B, groups, QA, QB, qgroups, margin, reduction, top_k=None):
    ab = _vse_side(A, B, QB, groups, qgroups, margin, reduction, top_k)
    ba = _vse_side(B, A, QA, groups, qgroups, margin, reduction, top_k)
    return ab + ba


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def _call(loss, A, B, groups, QA, QB, qgroups, queue, top_k):
    extra = {}
    if queue:
        extra = {"negatives_a": Negatives(t(QB), torch.tensor(qgroups)),
                 "negatives_b": Negatives(t(QA), torch.tensor(qgroups))}
    return loss(A, B, torch.tensor(groups), top_k=top_k, **extra)


SETTINGS = [(True, None), (False, 3), (True, 3), (True, 1), (True, 40)]
IDS = ["queue", "top3", "queue+top3", "queue+top1", "queue+top40(all)"]


@pytest.mark.parametrize(("queue", "top_k"), SETTINGS, ids=IDS)
def test_siglip_with_queue_and_hard_negatives_matches_loop_reference(queue, top_k):
    A, B, groups, QA, QB, qgroups = _case()
    loss = SigLIPLoss(init_scale=3.0, init_bias=-1.5).double()
    scale, bias = float(loss.scale.detach()), float(loss.bias.detach())
    a = t(A).requires_grad_()
    value = _call(loss, a, t(B), groups, QA, QB, qgroups, queue, top_k)
    ref = siglip_reference(A, B, groups, QA if queue else None, QB if queue else None, qgroups,
                           scale, bias, top_k)
    assert float(value.detach()) == pytest.approx(ref, rel=0, abs=1e-12)
    # the gradient with respect to A: central differences of the loop reference
    value.backward()
    eps, numeric = 1e-6, np.zeros_like(A)
    for idx in np.ndindex(*A.shape):
        up, down = A.copy(), A.copy()
        up[idx] += eps
        down[idx] -= eps
        qa, qb = (QA, QB) if queue else (None, None)
        numeric[idx] = (siglip_reference(up, B, groups, qa, qb, qgroups, scale, bias, top_k)
                        - siglip_reference(down, B, groups, qa, qb, qgroups, scale, bias, top_k)
                        ) / (2 * eps)
    np.testing.assert_allclose(a.grad.numpy(), numeric, atol=1e-7)


@pytest.mark.parametrize("reduction", ["sum", "max"])
@pytest.mark.parametrize(("queue", "top_k"), SETTINGS, ids=IDS)
def test_vse_with_queue_and_hard_negatives_matches_loop_reference(queue, top_k, reduction):
    A, B, groups, QA, QB, qgroups = _case(1)
    loss = VSEHingeLoss(margin=0.4, reduction=reduction)
    value = _call(loss, t(A), t(B), groups, QA, QB, qgroups, queue, top_k)
    ref = vse_reference(A, B, groups, QA if queue else None, QB if queue else None, qgroups,
                        0.4, reduction, top_k)
    assert ref > 0.5  # margins are violated: the hinge is not trivially 0
    assert float(value) == pytest.approx(ref, rel=0, abs=1e-12)


def test_queued_rows_of_the_anchors_group_are_neither_positives_nor_negatives():
    """A batch of one image with 8 captions (one group): moving the queued rows of that group
    changes neither loss; moving the other queued rows changes both (the queue is used)."""
    A, B, _, QA, QB, qgroups = _case(2)
    groups = np.zeros(8, dtype=int)
    qgroups = np.array([0, 7, 0, 8, 9, 0, 10])
    own = qgroups == 0
    rng = np.random.default_rng(3)
    for loss in (SigLIPLoss().double(), VSEHingeLoss(reduction="sum")):
        def value(qa, qb, fn=loss):
            return float(_call(fn, t(A), t(B), groups, qa, qb, qgroups, True, None).detach())

        base = value(QA, QB)
        moved_own = [q.copy() for q in (QA, QB)]
        for q in moved_own:
            q[own] = rng.normal(size=(int(own.sum()), 5))
        assert value(*moved_own) == pytest.approx(base, abs=1e-12)
        moved_other = [q.copy() for q in (QA, QB)]
        for q in moved_other:
            q[~own] = -q[~own] + rng.normal(size=(int((~own).sum()), 5))
        assert abs(value(*moved_other) - base) > 1e-3


def test_vse_top_k_with_a_queue_reaches_into_the_queue():
    """A queued row made the hardest negative of every A anchor is the one max-violation
    picks: the loss equals the loop reference and exceeds the queue-free value."""
    A, B, groups, QA, QB, qgroups = _case(4)
    QB = QB.copy()
    QB[3] = _unit(A).sum(axis=0)  # close to every anchor of side A; group 8 is not in the batch
    loss = VSEHingeLoss(margin=0.2, reduction="max")
    with_queue = float(_call(loss, t(A), t(B), groups, QA, QB, qgroups, True, 1))
    without = float(_call(loss, t(A), t(B), groups, QA, QB, qgroups, False, 1))
    assert with_queue == pytest.approx(
        vse_reference(A, B, groups, QA, QB, qgroups, 0.2, "max", 1), abs=1e-12)
    assert with_queue > without + 0.1

"""ContrastiveDualEncoder: hard negatives, queues, distillation, GradCache, persistence, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from jointspace.data import MultiView, load_dataset, train_test_split
from jointspace.losses import (
    EmbeddingDistillLoss,
    InfoNCELoss,
    Negatives,
    SimilarityDistillLoss,
    VSEHingeLoss,
)
from jointspace.metrics import cross_modal_retrieval
from jointspace.models import CCA, ContrastiveDualEncoder, JointModel
from jointspace.models.deep.contrastive_training import ContrastiveTraining, EmbeddingQueue


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _paired(rng, n=120, d1=12, d2=9, noise=0.3):
    Z = rng.normal(size=(n, 4))
    X1 = Z @ rng.normal(size=(4, d1)) + noise * rng.normal(size=(n, d1))
    X2 = Z @ rng.normal(size=(4, d2)) + noise * rng.normal(size=(n, d2))
    return X1, X2


# ------------------------------------------------------------------ losses beyond the batch
def _infonce_extra_reference(A, B, groups, QB, qgroups, scale, top_k=None):
    """A-anchors side with queued B negatives; explicit loops."""
    A, B, QB = _unit(A), _unit(B), _unit(QB)
    cands = np.concatenate([B, QB])
    cgroups = np.concatenate([groups, qgroups])
    m = len(A)
    total = 0.0
    for i in range(m):
        sims = cands @ A[i]
        pos = [j for j in range(m) if groups[j] == groups[i]]
        neg = [j for j in range(len(cands)) if cgroups[j] != groups[i]]
        if top_k is not None:
            neg = sorted(neg, key=lambda j: -sims[j])[:top_k]
        z = sum(math.exp(scale * sims[n]) for n in neg)
        total += sum(
            -math.log(math.exp(scale * sims[j]) / (math.exp(scale * sims[j]) + z)) for j in pos
        ) / len(pos)
    return total / m


@pytest.mark.parametrize("top_k", [None, 3])
def test_infonce_with_queue_matches_reference(top_k):
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    groups = np.array([0, 0, 1, 2, 3, 3, 4, 5])
    QA, QB = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    qgroups = np.array([1, 7, 0, 8, 9, 3])  # groups 0, 1, 3 are positives seen before
    loss = InfoNCELoss(init_temperature=0.5)
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    value = loss(
        t(A),
        t(B),
        torch.tensor(groups),
        negatives_a=Negatives(t(QB), torch.tensor(qgroups)),
        negatives_b=Negatives(t(QA), torch.tensor(qgroups)),
        top_k=top_k,
    )
    ab = _infonce_extra_reference(A, B, groups, QB, qgroups, 2.0, top_k)
    ba = _infonce_extra_reference(B, A, groups, QA, qgroups, 2.0, top_k)
    assert float(value) == pytest.approx(0.5 * (ab + ba), abs=1e-10)


def test_top_k_hinge_equals_max_violation_at_k_1():
    rng = np.random.default_rng(1)
    A = torch.tensor(rng.normal(size=(10, 4)))
    B = torch.tensor(rng.normal(size=(10, 4)))
    summed = VSEHingeLoss(margin=0.3, reduction="sum")
    hardest = VSEHingeLoss(margin=0.3, reduction="max")
    assert float(summed(A, B, top_k=1)) == pytest.approx(float(hardest(A, B)), abs=1e-12)
    assert float(summed(A, B, top_k=9)) == pytest.approx(float(summed(A, B)), abs=1e-12)


def test_extra_negatives_need_groups():
    A = torch.randn(4, 3)
    with pytest.raises(ValueError, match="groups"):
        InfoNCELoss()(A, A, negatives_a=Negatives(torch.randn(2, 3), torch.tensor([5, 6])))


# ------------------------------------------------------------------ the queue
def test_queue_never_returns_a_positive_as_negative():
    torch.manual_seed(0)
    queue = EmbeddingQueue(size=5, dim=3)
    assert queue.negatives() is None
    queue.push(torch.randn(4, 3), torch.tensor([0, 1, 2, 3]))
    queue.push(torch.randn(3, 3), torch.tensor([4, 5, 1]))  # wraps: oldest two are overwritten
    neg = queue.negatives()
    assert sorted(neg.groups.tolist()) == [1, 2, 3, 4, 5]
    # an anchor of group 1: its queued copy must not be a negative, the others are
    A = torch.randn(1, 3, dtype=torch.float64)
    B = torch.randn(1, 3, dtype=torch.float64)
    groups = torch.tensor([1])
    loss = InfoNCELoss()

    def value_with(rows_moved):
        moved = neg.embeddings.double().clone()
        moved[rows_moved] = torch.randn(int(rows_moved.sum()), 3, dtype=torch.float64)
        q = Negatives(moved, neg.groups)
        return float(loss(A, B, groups, negatives_a=q, negatives_b=q))

    reference = value_with(torch.zeros(5, dtype=torch.bool))
    assert value_with(neg.groups == 1) == pytest.approx(reference, abs=1e-12)
    assert value_with(neg.groups == 2) != pytest.approx(reference, abs=1e-6)


def test_moco_momentum_encoder_follows_online_encoder():
    rng = np.random.default_rng(2)
    X1, X2 = _paired(rng, n=64)
    model = ContrastiveDualEncoder(
        8,
        hidden=(16,),
        hard_negatives="moco",
        queue_size=40,
        momentum=0.5,
        training={"epochs": 3, "batch_size": 16, "progress": False},
    )
    net = model._build_network([12, 9])
    training = ContrastiveTraining(net, model, np.arange(64), None)
    views = [torch.tensor(X1[:16], dtype=torch.float32), torch.tensor(X2[:16], dtype=torch.float32)]
    terms = training.backward_loss(views, None, torch.arange(16))
    assert math.isfinite(float(terms["loss"]))
    before = [p.clone() for p in training.momentum_encoders.parameters()]
    with torch.no_grad():
        for p in net.encoders.parameters():
            p.add_(1.0)
    training.after_step()
    for b, online, target in zip(
        before, net.encoders.parameters(), training.momentum_encoders.parameters()
    ):
        torch.testing.assert_close(target, 0.5 * b + 0.5 * online)
    assert int(training.queues[0].count) == 16
    assert training.queues[0].groups[:16].tolist() == list(range(16))


# ------------------------------------------------------------------ distillation
def test_distillation_losses_match_references():
    rng = np.random.default_rng(3)
    A, B, T = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=(6, 7))
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    cos = EmbeddingDistillLoss("cosine")(t(A), t(T[:, :4]))
    assert float(cos) == pytest.approx(np.mean(1 - (_unit(A) * _unit(T[:, :4])).sum(1)))
    mse = EmbeddingDistillLoss("mse")(t(A), t(T[:, :4]))
    assert float(mse) == pytest.approx(np.mean(((_unit(A) - _unit(T[:, :4])) ** 2).sum(1)))

    tau = 0.1
    P = _unit(T) @ _unit(T).T / tau
    S = _unit(A) @ _unit(B).T / tau

    def kl(target_logits, student_logits):
        total = 0.0
        for i in range(len(target_logits)):
            p = np.exp(target_logits[i] - target_logits[i].max())
            p /= p.sum()
            q = np.exp(student_logits[i] - student_logits[i].max())
            q /= q.sum()
            total += (p * np.log(p / q)).sum()
        return total / len(target_logits)

    value = SimilarityDistillLoss(tau)(t(A), t(B), t(T))
    assert float(value) == pytest.approx(0.5 * (kl(P, S) + kl(P, S.T)), abs=1e-10)
    At = t(A).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a: SimilarityDistillLoss(tau)(a, t(B), t(T)), (At,), eps=1e-6, atol=1e-6
    )


# ------------------------------------------------------------------ GradCache
_GRAD_CACHE_OPTIONS = [
    {"loss": "infonce"},
    {"loss": "siglip", "hard_negatives": "topk", "n_hard": 5},
    {"loss": "vse", "distill": "kl"},
    {"loss": "infonce", "distill": "cosine"},
]


def _gradients(options, chunk, reference_chunks=False):
    """Loss and parameter gradients of one batch of 48 rows (two captions per image)."""
    rng = np.random.default_rng(4)
    n = 48
    X1, X2 = _paired(rng, n=n)
    teacher = rng.normal(size=(n, 6))
    model = ContrastiveDualEncoder(
        8, hidden=(32,), grad_cache_chunk=chunk, **{"dropout": 0.0, **options}
    )
    torch.manual_seed(0)
    net = model._build_network([12, 9]).double()
    training = ContrastiveTraining(net, model, np.arange(n) // 2, teacher).double().train()
    views = [torch.tensor(X1), torch.tensor(X2)]
    index = torch.arange(n)
    torch.manual_seed(1)
    if reference_chunks:  # the chunks embedded with their graphs kept: plain autograd
        parts = [training.encode([v[s : s + chunk] for v in views]) for s in range(0, n, chunk)]
        terms = training.loss_terms([torch.cat(p) for p in zip(*parts)], index)
        terms["loss"].backward()
    else:
        terms = training.backward_loss(views, None, index)
    return float(terms["loss"]), {k: p.grad.clone() for k, p in training.named_parameters()}


def _assert_same_gradients(a, b):
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    assert loss_a == pytest.approx(loss_b, abs=1e-10)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 4
    for k in grads_a:
        torch.testing.assert_close(grads_a[k], grads_b[k], atol=1e-5, rtol=0)


@pytest.mark.parametrize("options", _GRAD_CACHE_OPTIONS)
def test_grad_cache_gradients_equal_full_batch(options):
    """Deterministic towers: GradCache in uneven chunks of 7 gives the full batch's gradients."""
    _assert_same_gradients(_gradients(options, 7), _gradients(options, None))


@pytest.mark.parametrize("options", _GRAD_CACHE_OPTIONS[:2])
def test_grad_cache_replays_dropout_and_noise(options):
    """With dropout and input noise each chunk's second pass replays its first pass's random
    draws: the gradients equal plain autograd through the same chunked forward."""
    noisy = {**options, "dropout": 0.3, "training": {"input_noise": 0.2}}
    _assert_same_gradients(_gradients(noisy, 7), _gradients(noisy, 7, reference_chunks=True))


# ------------------------------------------------------------------ the estimator
def test_fit_transform_save_load_identical(tmp_path):
    rng = np.random.default_rng(5)
    X1, X2 = _paired(rng)
    model = ContrastiveDualEncoder(
        6,
        hidden=(32,),
        hard_negatives="queue",
        queue_size=64,
        training={"epochs": 5, "batch_size": 32, "progress": False},
    ).fit([X1, X2])
    Z = model.transform([X1, X2])
    assert [z.shape for z in Z] == [(120, 6), (120, 6)]
    np.testing.assert_allclose(np.linalg.norm(Z[0], axis=1), 1.0, atol=1e-12)
    model.save(tmp_path / "m")
    loaded = JointModel.load(tmp_path / "m")
    assert isinstance(loaded, ContrastiveDualEncoder)
    for a, b in zip(Z, loaded.transform([X1, X2])):
        np.testing.assert_array_equal(a, b)
    # a row's embedding does not depend on its batch
    np.testing.assert_allclose(loaded.transform_view(0, X1[:1]), Z[0][:1], atol=1e-12)


def test_same_seed_same_model_and_learning_happens():
    rng = np.random.default_rng(6)
    X1, X2 = _paired(rng, n=300, noise=0.1)
    kw = dict(hidden=(64,), training={"epochs": 15, "batch_size": 64, "lr": 3e-3,
                                      "progress": False})
    a = ContrastiveDualEncoder(8, **kw).fit([X1, X2])
    b = ContrastiveDualEncoder(8, **kw).fit([X1, X2])
    for za, zb in zip(a.transform([X1, X2]), b.transform([X1, X2])):
        np.testing.assert_array_equal(za, zb)
    assert a.history_[-1]["loss"] < 0.5 * a.history_[0]["loss"]
    assert 0.01 <= a.temperature_ <= 0.07 * 1.5


def test_frozen_user_tower_keeps_its_weights():
    rng = np.random.default_rng(7)
    X1, X2 = _paired(rng)
    torch.manual_seed(0)
    user = nn.Sequential(nn.Linear(9, 5), nn.Tanh())
    before = [p.detach().clone() for p in user.parameters()]
    model = ContrastiveDualEncoder(
        4,
        tower=["mlp", user],
        freeze=["b"],
        hidden=(16,),
        training={"epochs": 3, "batch_size": 40, "progress": False},
    ).fit({"a": X1, "b": X2})
    frozen = model.network_.encoders[1][0]
    for b, p in zip(before, frozen.parameters()):
        torch.testing.assert_close(p, b)
    assert not torch.equal(model.network_.encoders[1][1].weight, torch.zeros(4, 5))


def test_distill_teacher_as_array_or_view():
    rng = np.random.default_rng(8)
    X1, X2 = _paired(rng)
    kw = dict(hidden=(16,), distill="mse",
              training={"epochs": 3, "batch_size": 40, "progress": False})
    from_view = ContrastiveDualEncoder(4, distill_teacher="t", **kw).fit({"i": X1, "t": X2})
    from_array = ContrastiveDualEncoder(4, **kw).fit({"i": X1, "t": X2}, teacher=X2)
    for a, b in zip(from_view.transform({"i": X1, "t": X2}), from_array.transform([X1, X2])):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert "distill" in from_view.history_[0]


@pytest.mark.parametrize(
    ("params", "fit_kw", "match"),
    [
        ({"loss": "triplet"}, {}, "'loss' parameter of ContrastiveDualEncoder .*Got 'triplet'"),
        ({"hard_negatives": "mined"}, {}, "hard_negatives"),
        ({"distill": "kl"}, {}, "needs teacher"),
        ({"distill": "kl"}, {"teacher": np.ones((3, 2))}, r"teacher has shape \(3, 2\)"),
        ({"distill": "kl", "distill_teacher": "x"}, {}, "distill_teacher='x'"),
        ({"freeze": ["a"]}, {}, "not the user's module"),
        ({"grad_cache_chunk": 0}, {}, "grad_cache_chunk"),
    ],
)
def test_bad_parameters_are_named(params, fit_kw, match):
    rng = np.random.default_rng(9)
    X1, X2 = _paired(rng, n=20)
    model = ContrastiveDualEncoder(4, **params, training={"epochs": 1, "progress": False})
    with pytest.raises(ValueError, match=match):
        model.fit({"a": X1, "b": X2}, **fit_kw)


def test_a_row_lacking_a_view_is_left_out_of_the_loss():
    """missing="mask" (the default) trains on the rows that have both views: with one batch,
    no dropout, no validation split and no standardization (whose statistics use every row
    a view has), the model equals the one trained on the complete rows alone ("drop")."""
    rng = np.random.default_rng(10)
    X1, X2 = _paired(rng, n=20)
    mask = np.ones((20, 2), dtype=bool)
    mask[3, 1] = False
    mv = MultiView({"a": X1, "b": np.where(mask[:, 1:], X2, np.nan)}, mask=mask)
    options = {"epochs": 3, "batch_size": 64, "val_fraction": 0.0, "progress": False}
    masked = ContrastiveDualEncoder(4, hidden=(8,), dropout=0.0, standardize=False,
                                    training=options).fit(mv)
    dropped = ContrastiveDualEncoder(4, hidden=(8,), dropout=0.0, standardize=False,
                                     training=options, missing="drop").fit(mv)
    assert masked.missing_strategy == "mask"
    for i, X in enumerate((X1, X2)):
        np.testing.assert_allclose(masked.transform_view(i, X), dropped.transform_view(i, X),
                                   atol=1e-5)
    with pytest.raises(AssertionError):  # the row is not simply ignored by both by accident
        full = ContrastiveDualEncoder(4, hidden=(8,), dropout=0.0, standardize=False,
                                      training=options).fit(MultiView({"a": X1, "b": X2}))
        np.testing.assert_allclose(masked.transform_view(0, X1), full.transform_view(0, X1),
                                   atol=1e-5)


def test_real_digits_beat_linear_cca_retrieval():
    """mnist-halves: left and right halves of real digits. The dual encoder's retrieval on
    held-out digits must beat linear CCA's (an independent method) in both directions."""
    data = load_dataset("mnist-halves")
    train, test = train_test_split(data, test_size=1000, random_state=0)
    names = ("left", "right")
    dual = ContrastiveDualEncoder(
        32, hidden=(512,), training={"epochs": 12, "batch_size": 256, "lr": 2e-3, "progress": False}
    ).fit(train)
    cca = CCA(32, reg=1e-2).fit(train)
    r_dual = cross_modal_retrieval(*dual.transform(test), names=names)
    r_cca = cross_modal_retrieval(*cca.transform(test), names=names)
    for direction in r_dual:
        assert r_dual[direction]["R@10"] > r_cca[direction]["R@10"] + 5


def test_memory_queue_holds_the_batch_embeddings_it_trained_on():
    rng = np.random.default_rng(12)
    X1, X2 = _paired(rng, n=32)
    model = ContrastiveDualEncoder(
        8, hidden=(16,), dropout=0.0, hard_negatives="queue", queue_size=20
    )
    net = model._build_network([12, 9])
    training = ContrastiveTraining(net, model, np.arange(32), None).train()
    views = [torch.tensor(X1[:12], dtype=torch.float32), torch.tensor(X2[:12], dtype=torch.float32)]
    with torch.no_grad():
        expected = [nn.functional.normalize(z, dim=-1) for z in training.encode(views)]
    training.backward_loss(views, None, torch.arange(12))
    training.after_step()  # no optimizer step here: the weights are those of the loss
    for queue, z in zip(training.queues, expected):
        torch.testing.assert_close(queue.embeddings[:12], z)
        assert queue.groups[:12].tolist() == list(range(12)) and int(queue.count) == 12

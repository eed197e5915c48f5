"""Resuming from a checkpoint with a validation split: training N epochs in one go equals
training, stopping after k epochs (the checkpoint of an interrupted run) and resuming to N —
the weights, the validation history, the chosen best epoch (its weights restored), and for
the MoCo dual encoder the queues and momentum encoders too.

The interruption is real: a callback raises after epoch k, once the trainer has written
that epoch's checkpoint, so the cosine schedule of the stopped run is the N-epoch one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jointspace import MultiView, load_dataset
from jointspace.models.deep import DCCA, ContrastiveDualEncoder


class Interrupted(Exception):
    """Raised by the callback to stop a run as a crash or Ctrl-C would."""


def stop_after(k: int, seen: list | None = None):
    """A callback recording each epoch's trainable state and raising after epoch k − 1."""

    def callback(epoch, trainable, row):
        if seen is not None:
            seen.append((epoch, trainable, _state(trainable)))
        if epoch == k - 1:
            raise Interrupted(f"stopped after epoch {epoch}")

    return callback


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# ------------------------------------------------------------------------------ DCCA
@pytest.fixture(scope="module")
def digits():
    """150 real digit halves: 105 for training, 45 for validation (val_fraction 0.3), few
    enough for a wide network to overfit within 12 epochs."""
    return load_dataset("mnist-halves").subset(np.arange(0, 3000, 20))


# one thread, set by the trainer around each fit: float32 sums must not depend on how many
# threads other tests of the session left torch with
DCCA_TRAINING = dict(
    epochs=12,
    batch_size=40,
    lr=1e-2,
    schedule="cosine",
    val_fraction=0.3,
    progress=False,
    threads=1,
)


def dcca(**training):
    """DCCA of these tests, with some training options changed."""
    return DCCA(5, hidden=(512,), random_state=7, training={**DCCA_TRAINING, **training})


@pytest.fixture(scope="module")
def dcca_straight(digits):
    """The uninterrupted 12-epoch run (no early stopping)."""
    seen: list = []
    model = dcca(patience=None).fit(digits, callback=stop_after(99, seen))
    return model, seen


def _dcca_resumed(digits, ckpt, k, **opts):
    with pytest.raises(Interrupted, match=f"stopped after epoch {k - 1}"):
        dcca(**opts, checkpoint_dir=str(ckpt)).fit(digits, callback=stop_after(k))
    seen: list = []
    model = dcca(**opts, checkpoint_dir=str(ckpt), resume=True).fit(
        digits, callback=stop_after(99, seen)
    )
    return model, seen


def test_the_dcca_run_has_its_best_epoch_in_the_middle(dcca_straight):
    """What the resume tests below rely on: validation peaks before the last epoch, so the
    kept weights are an earlier epoch's, not the last."""
    model, seen = dcca_straight
    scores = [row["val_score"] for row in model.history_]
    assert len(scores) == 12 and model.best_epoch_ == int(np.argmax(scores))
    assert 4 <= model.best_epoch_ <= 9
    _assert_same_state(_state(model.network_), seen[model.best_epoch_][2])
    first = next(iter(seen[-1][2]))
    assert not torch.equal(seen[-1][2][first], seen[model.best_epoch_][2][first])


@pytest.mark.parametrize("k", [3, 8], ids=["stopped-before-best", "stopped-after-best"])
def test_dcca_resumed_with_validation_equals_uninterrupted_run(digits, dcca_straight, k, tmp_path):
    straight, straight_seen = dcca_straight
    resumed, resumed_seen = _dcca_resumed(digits, tmp_path / "ckpt", k, patience=None)
    assert resumed.history_ == straight.history_  # every epoch: loss, lr, validation score
    assert resumed.best_epoch_ == straight.best_epoch_
    # each resumed epoch trains to the same weights as the uninterrupted run's
    assert [e for e, *_ in resumed_seen] == list(range(k, 12))
    for (_, _, a), (_, _, b) in zip(resumed_seen, straight_seen[k:]):
        _assert_same_state(a, b)
    # the best epoch's weights are restored, whether they came from the checkpoint (k = 8)
    # or were reached after resuming (k = 3), and the linear head is fitted on them
    _assert_same_state(_state(resumed.network_), _state(straight.network_))
    np.testing.assert_array_equal(resumed.canonical_correlations_, straight.canonical_correlations_)
    for a, b in zip(resumed.transform(digits), straight.transform(digits)):
        np.testing.assert_array_equal(a, b)


def test_dcca_resumed_with_early_stopping_stops_at_the_same_epoch(digits, tmp_path):
    straight = dcca(patience=2).fit(digits)
    assert straight.best_epoch_ + 2 == len(straight.history_) - 1 < 11  # it did stop early
    resumed, _ = _dcca_resumed(digits, tmp_path / "ckpt", 3, patience=2)
    assert resumed.history_ == straight.history_
    assert resumed.best_epoch_ == straight.best_epoch_
    _assert_same_state(_state(resumed.network_), _state(straight.network_))


def test_resuming_a_run_that_stopped_early_trains_no_further(digits, tmp_path):
    ckpt = str(tmp_path / "ckpt")
    first = dcca(patience=2, checkpoint_dir=ckpt).fit(digits)
    assert len(first.history_) < 12
    again = dcca(patience=2, checkpoint_dir=ckpt, resume=True).fit(digits)
    _assert_same_state(_state(again.network_), _state(first.network_))  # best weights: holds
    assert again.history_ == first.history_  # fails: one more epoch was trained


def test_resuming_a_finished_run_changes_nothing(digits, dcca_straight, tmp_path):
    straight, _ = dcca_straight
    ckpt = str(tmp_path / "ckpt")
    dcca(patience=None, checkpoint_dir=ckpt).fit(digits)
    again = dcca(patience=None, checkpoint_dir=ckpt, resume=True).fit(digits)
    assert again.history_ == straight.history_ and again.best_epoch_ == straight.best_epoch_
    _assert_same_state(_state(again.network_), _state(straight.network_))


# ------------------------------------------------------------------ dual encoder, MoCo
def _captioned(n_images=60, captions=3, seed=0):
    """Images with several noisy captions each (groups), the caption view a noisy linear
    function of the image's latent."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n_images, 6))
    image = Z @ rng.normal(size=(6, 20)) + 0.2 * rng.normal(size=(n_images, 20))
    rows = np.repeat(np.arange(n_images), captions)
    text = Z[rows] @ rng.normal(size=(6, 14)) + 0.8 * rng.normal(size=(len(rows), 14))
    return MultiView({"image": image[rows], "text": text}, groups=rows)


DUAL_TRAINING = dict(
    threads=1, epochs=6, batch_size=30, lr=3e-3, input_noise=0.1, val_fraction=0.25, progress=False
)


def dual(**training):
    """The dual encoder of these tests, with some training options changed."""
    return ContrastiveDualEncoder(
        8,
        hidden=(32,),
        dropout=0.1,
        hard_negatives="moco",
        queue_size=50,
        momentum=0.9,
        random_state=3,
        training={**DUAL_TRAINING, **training},
    )


def test_moco_dual_encoder_resumed_equals_uninterrupted_run(tmp_path):
    """Weights, both queues (embeddings, groups, fill count), the momentum encoders, the
    temperature, the history and the best epoch: all equal after resuming at epoch 3 of 6."""
    data = _captioned()
    seen: list = []
    straight = dual().fit(data, callback=stop_after(99, seen))
    assert int(seen[-1][2]["queues.0.count"]) > 50  # the queue wrapped around
    ckpt = str(tmp_path / "ckpt")
    with pytest.raises(Interrupted, match="stopped after epoch 2"):
        dual(checkpoint_dir=ckpt).fit(data, callback=stop_after(3))
    resumed_seen: list = []
    resumed = dual(checkpoint_dir=ckpt, resume=True).fit(
        data, callback=stop_after(99, resumed_seen)
    )

    assert resumed.history_ == straight.history_
    assert resumed.best_epoch_ == straight.best_epoch_
    assert [e for e, *_ in resumed_seen] == [3, 4, 5]
    for (_, _, a), (_, _, b) in zip(resumed_seen, seen[3:]):
        assert any(k.startswith("queues.") for k in a)
        assert any(k.startswith("momentum_encoders.") for k in a)
        _assert_same_state(a, b)  # network, queues, momentum encoders after each epoch
    # after fit the trainable holds the best epoch's state (queues included), in both runs
    _assert_same_state(_state(resumed_seen[-1][1]), _state(seen[-1][1]))
    _assert_same_state(_state(seen[-1][1]), seen[straight.best_epoch_][2])
    _assert_same_state(_state(resumed.network_), _state(straight.network_))
    assert resumed.temperature_ == straight.temperature_
    for a, b in zip(resumed.transform(data), straight.transform(data)):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------- the VAE
def test_vae_resumed_mid_warm_up_equals_uninterrupted_run(digits, tmp_path):
    """The KL warm-up counts training batches: the counter is checkpointed, so a run
    resumed inside the warm-up ramps β on from where it stopped (before it was not kept,
    and a resumed run restarted the ramp at 0)."""
    from jointspace.models import MultimodalVAE

    def vae(**training):
        return MultimodalVAE(3, hidden=(32,), likelihood="bernoulli", kl_warmup=10,
                             training={"epochs": 4, "batch_size": 35, "threads": 1,
                                       "progress": False, **training})

    seen: list = []
    straight = vae().fit(digits, callback=stop_after(99, seen))
    # 150 rows in batches of 35: 4 a epoch (the short last one merged)
    assert [int(s["steps"]) for _, _, s in seen] == [4, 8, 12, 16]
    ckpt = str(tmp_path / "ckpt")
    with pytest.raises(Interrupted, match="stopped after epoch 1"):
        vae(checkpoint_dir=ckpt).fit(digits, callback=stop_after(2))
    resumed_seen: list = []
    resumed = vae(checkpoint_dir=ckpt, resume=True).fit(digits,
                                                        callback=stop_after(99, resumed_seen))
    assert resumed.history_ == straight.history_  # the KL weight of every batch included
    for (_, _, a), (_, _, b) in zip(resumed_seen, seen[2:]):
        _assert_same_state(a, b)
    for a, b in zip(resumed.transform(digits), straight.transform(digits)):
        np.testing.assert_array_equal(a, b)

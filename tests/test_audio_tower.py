"""The audio-cnn tower: attention pooling is a weighted mean over the valid frames, the
tower's output does not depend on the padding after a clip, it checks its shapes, and a dual
encoder with it trains, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jointspace import MultiView
from jointspace.models import ContrastiveDualEncoder, JointModel
from jointspace.models.deep.audio import AttentionPool, AudioCNNTower
from jointspace.models.deep.towers import build_tower


def test_attention_pooling_is_a_weighted_mean_over_valid_frames():
    torch.manual_seed(0)
    pool = AttentionPool(6, hidden=8)
    h = torch.randn(4, 10, 6)
    valid = torch.ones(4, 10, dtype=torch.bool)
    valid[1, 7:] = False
    valid[2, :] = False  # nothing valid: pooled over every frame
    w = pool.weights(h, valid)
    assert w.shape == (4, 10) and (w >= 0).all()
    torch.testing.assert_close(w.sum(dim=1), torch.ones(4))
    assert (w[1, 7:] == 0).all() and (w[2] > 0).all()
    torch.testing.assert_close(pool(h, valid), (w[..., None] * h).sum(dim=1))
    noisy = h.clone()
    noisy[1, 7:] = 1e3 * torch.randn(3, 6)  # masked frames: anything
    torch.testing.assert_close(pool(noisy, valid)[1], pool(h, valid)[1])
    torch.testing.assert_close(pool(h[1:2, :7]), pool(h, valid)[1:2])  # = the frames cut off


def _clip(frames: int, mels: int, length: int, seed: int = 0) -> torch.Tensor:
    """One frame-major log-mel row: ``length`` frames of sound, then padding at −80 dB."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((frames, mels), -80.0)
    x[:length] = -60 * torch.rand(length, mels, generator=g)
    return x.reshape(1, -1)


def test_the_tower_ignores_the_padding_after_a_clip():
    torch.manual_seed(0)
    short = AudioCNNTower(48 * 16, 5, mels=16, channels=(4, 8), width=12).eval()
    long = AudioCNNTower(80 * 16, 5, mels=16, channels=(4, 8), width=12).eval()
    long.load_state_dict(short.state_dict())  # the weights do not depend on the frame count
    with torch.no_grad():
        a, b = short(_clip(48, 16, 30)), long(_clip(80, 16, 30))
        other = short(_clip(48, 16, 30, seed=1))
    assert a.shape == (1, 5)
    torch.testing.assert_close(a, b)  # 18 or 50 frames of padding: the same output
    assert (a - other).abs().max() > 1e-4  # and the sound itself matters
    valid = short.valid_frames(_clip(48, 16, 30))
    assert valid[0, :30].all() and not valid[0, 30:].any()


def test_the_tower_checks_its_shapes():
    with pytest.raises(ValueError, match="64 mel bands cannot read 100-wide rows"):
        AudioCNNTower(100, 4)
    with pytest.raises(ValueError, match="10 frames × 64 mel bands reads 640-wide rows"):
        AudioCNNTower(64 * 12, 4, frames=10)
    with pytest.raises(ValueError, match="at least 8 mel bands and frames; got 64 × 4"):
        AudioCNNTower(64 * 4, 4)
    tower = build_tower({"kind": "audio-cnn", "mels": 16}, 16 * 20, 7)
    assert isinstance(tower, AudioCNNTower) and tower.frames == 20
    assert tower(torch.full((3, 320), -80.0)).shape == (3, 7)  # silent rows: finite
    assert torch.isfinite(tower(torch.full((3, 320), -80.0))).all()


def test_a_dual_encoder_with_the_audio_tower_trains_saves_and_loads(tmp_path):
    """Clips of 16 bands × 24 frames whose loud band codes their caption vector."""
    rng = np.random.default_rng(0)
    n, mels, frames = 96, 16, 24
    classes = rng.integers(0, 4, n)
    audio = np.full((n, frames, mels), -80.0, dtype=np.float32)
    for i, c in enumerate(classes):
        length = rng.integers(8, frames + 1)
        audio[i, :length] = -70 + 10 * rng.random((length, mels))
        audio[i, :length, 4 * c: 4 * c + 4] = -5 * rng.random((length, 4))
    text = np.eye(4)[classes] + 0.05 * rng.normal(size=(n, 4))
    data = MultiView({"audio": audio.reshape(n, -1), "text": text}, labels=classes)
    model = ContrastiveDualEncoder(
        8, tower=[{"kind": "audio-cnn", "mels": mels, "channels": [4, 8], "width": 16},
                  "linear"],
        training={"epochs": 15, "batch_size": 32, "progress": False, "threads": 1},
        random_state=0).fit(data)
    za, zt = model.transform(data)
    nearest = (zt @ za.T).argmax(axis=1)
    assert (classes[nearest] == classes).mean() > 0.5  # chance: 0.25
    model.save(tmp_path / "m")
    loaded = JointModel.load(tmp_path / "m")
    for a, b in zip(loaded.transform(data), model.transform(data)):
        np.testing.assert_array_equal(a, b)

"""Temporal towers and the video-frames encoder: mean pooling cannot see frame order, the
temporal convolution and transformer can; the encoder's rows are the clip's frames; a dual
encoder with a temporal tower saves and loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jointspace import MultiView
from jointspace.data.moving_mnist import moving_digits
from jointspace.data.video_files import read_video, write_video
from jointspace.encoders import make_encoder
from jointspace.models import ContrastiveDualEncoder, JointModel
from jointspace.models.deep.temporal import TemporalTower


@pytest.mark.parametrize("pool", ["mean", "conv", "transformer"])
def test_only_mean_pooling_is_blind_to_frame_order(pool):
    torch.manual_seed(0)
    tower = TemporalTower(20 * 12, 8, frames=20, pool=pool, width=16, heads=2).eval()
    x = torch.randn(5, 20, 12)
    backwards = x.flip(1)
    with torch.no_grad():
        a, b = tower(x.reshape(5, -1)), tower(backwards.reshape(5, -1))
    assert a.shape == (5, 8)
    if pool == "mean":
        torch.testing.assert_close(a, b)  # the same frames in any order: the same output
    else:
        assert (a - b).abs().max() > 1e-3


def test_a_tower_checks_its_frame_count():
    with pytest.raises(ValueError, match="20 frames cannot read 30-wide rows"):
        TemporalTower(30, 4, frames=20)
    with pytest.raises(ValueError, match="pool='max'"):
        TemporalTower(40, 4, frames=20, pool="max")


def test_the_encoder_rows_are_the_clips_frames_resized(tmp_path):
    frames, _, _ = moving_digits(2, seed=0)
    paths = [write_video(tmp_path / f"{i}.mp4", clip, fps=10) for i, clip in enumerate(frames)]
    encoder = make_encoder("video-frames", frames=24, size=16)
    rows = encoder.transform([str(p) for p in paths])
    assert rows.shape == (2, 24 * 256) and rows.dtype == np.float32
    per_frame = rows.reshape(2, 24, 16, 16)
    np.testing.assert_array_equal(per_frame[:, 20:], per_frame[:, 19:20].repeat(4, 1))  # padded
    from PIL import Image

    first = read_video(paths[0])[0]
    expected = np.asarray(Image.fromarray(first).convert("L").resize((16, 16),
                          Image.Resampling.BILINEAR), dtype=np.float32) / 255
    np.testing.assert_allclose(per_frame[0, 0], expected, atol=1e-6)
    np.testing.assert_allclose(encoder.transform(frames[:1]), rows[:1], atol=0.05)  # arrays


def test_a_dual_encoder_with_a_temporal_tower_saves_and_loads(tmp_path):
    frames, captions, _ = moving_digits(120, seed=1)
    video = make_encoder("video-frames", frames=20, size=8).transform(frames)
    text = np.random.default_rng(0).normal(size=(120, 16))  # stand-in caption vectors
    data = MultiView({"video": video, "text": text})
    model = ContrastiveDualEncoder(
        8, tower=[{"kind": "temporal", "frames": 20, "pool": "conv", "width": 16}, "linear"],
        training={"epochs": 2, "batch_size": 40, "progress": False, "threads": 1}).fit(data)
    model.save(tmp_path / "m")
    loaded = JointModel.load(tmp_path / "m")
    for a, b in zip(loaded.transform(data), model.transform(data)):
        np.testing.assert_array_equal(a, b)


def test_fit_from_the_cli_on_video_and_captions_uses_a_temporal_tower(tmp_path):
    """No encoder or model named: video clips get the video-frames encoder and the dual
    encoder a temporal tower (the measured defaults), end to end from the command."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from jointspace.pipeline import Pipeline

    exe = str(Path(sys.executable).with_name("jointspace"))
    proc = subprocess.run(
        [exe, "fit", "--dataset", "moving-mnist-captions:n=120", "--epochs", "2",
         "--out", str(tmp_path / "p"), "--json"],
        capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})  # clips cached under HOME
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["encoders"]["video"] == "video-frames:size=16"
    assert summary["model"] == "dual-encoder"
    model = Pipeline.load(tmp_path / "p").model
    assert model.tower[0] == {"kind": "temporal", "frames": 20, "pool": "conv"}
    assert 0 <= summary["test"]["retrieval"]["text→video"]["R@10"] <= 100

"""A user's own folder of videos (or audio files) with a captions file: read, checked and
fitted from the CLI like a folder of images (the view is named by the files' kind)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jointspace.data import from_folder
from jointspace.data.readers import media_kind
from jointspace.data.video_files import write_video

EXE = str(Path(sys.executable).with_name("jointspace"))
MOVES = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}


def square_moving(direction: str, start: int, frames: int = 20) -> np.ndarray:
    """(frames, 32, 32) grey frames of a bright 6 × 6 square moving one pixel a frame."""
    dy, dx = MOVES[direction]
    out = np.zeros((frames, 32, 32), np.uint8)
    for t in range(frames):
        y, x = 13 + dy * (t - 10) + start % 3, 13 + dx * (t - 10) + start % 4
        out[t, y : y + 6, x : x + 6] = 255
    return out


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory) -> tuple[Path, Path]:
    """24 clips (a square moving left, right, up or down), a broken .mp4, and a captions
    file with a ``video`` column, one row naming a file that does not exist."""
    root = tmp_path_factory.mktemp("clips") / "videos"
    root.mkdir()
    rows = ["video,caption"]
    for i in range(24):
        direction = list(MOVES)[i % 4]
        write_video(root / f"{direction}-{i}.mp4", square_moving(direction, i))
        rows.append(f"{direction}-{i}.mp4,a square moves {direction}")
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    rows += ["broken.mp4,a broken clip", "gone.mp4,a lost clip"]
    table = root.parent / "captions.csv"
    table.write_text("\n".join(rows) + "\n")
    return root, table


def test_media_kind_by_extension():
    assert [media_kind(f) for f in ("a.MP4", "b.webm", "c.wav", "d.flac", "e.png", "f.svg")] \
        == ["video", "video", "audio", "audio", "image", "image"]


def test_a_video_folder_reads_as_a_video_view_and_broken_files_are_skipped(video_folder):
    root, table = video_folder
    with pytest.warns(UserWarning, match="skipped 2 of 26 rows"):
        data = from_folder(root, table, image_column="video")
    assert data.view_names == ["video", "text"]
    assert data.n_samples == 24 and data["video"][0] == str(root / "left-0.mp4")
    reasons = {s["item"]: s["reason"] for s in data.meta["skipped"]}
    assert reasons["broken.mp4"].startswith("unreadable video")
    assert reasons["gone.mp4"].startswith("missing file")


def test_a_folder_mixing_images_and_videos_is_refused(video_folder, tmp_path):
    root, table = video_folder
    from PIL import Image

    Image.new("RGB", (8, 8)).save(root / "still.png")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(table.read_text() + "still.png,a still picture\n")
    with pytest.warns(UserWarning, match="skipped 2"), \
            pytest.raises(ValueError, match=r"24 video files, 1 image files; expected one kind"):
        from_folder(root, mixed, image_column="video")


def test_fit_a_video_search_pipeline_on_your_own_folder(video_folder, tmp_path):
    """`jointspace fit --images DIR --captions FILE --image-column video`: the video view
    gets the video-frames encoder and a temporal tower by default; the saved pipeline
    embeds a clip file and captions into one space."""
    root, table = video_folder
    out = tmp_path / "pipe"
    proc = subprocess.run(
        [EXE, "fit", "--images", str(root), "--captions", str(table), "--image-column",
         "video", "--encoders", "text=tfidf", "--epochs", "3", "--test-size", "0.25",
         "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=900,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    fitted = json.loads(proc.stdout)
    assert "skipped 2 of 26 rows" in proc.stderr and "unreadable video" in proc.stderr
    assert sorted(fitted["views"]) == ["text", "video"]
    assert fitted["encoders"]["video"].startswith("video-frames")
    from jointspace import Pipeline

    pipe = Pipeline.load(out)
    assert pipe.model.tower[pipe.view_names.index("video")]["kind"] == "temporal"
    clips = pipe.transform_view("video", [str(root / "left-0.mp4"), str(root / "up-2.mp4")])
    captions = pipe.transform_view("text", ["a square moves left"])
    assert clips.shape == (2, captions.shape[1]) and np.isfinite(clips).all()
    np.testing.assert_allclose(np.linalg.norm(clips, axis=1), 1.0, atol=1e-5)


def test_fit_an_audio_search_pipeline_on_your_own_folder(tmp_path):
    """A folder of WAV files with a captions file: an ``audio`` view with the MFCC encoder
    and the audio–text defaults, from the same --images/--captions options."""
    import soundfile as sf

    root = tmp_path / "sounds"
    root.mkdir()
    rows = ["audio,caption"]
    t = np.arange(8000) / 16000
    for i in range(16):
        pitch = [220, 440, 880, 1760][i % 4]
        sf.write(root / f"tone{i}.wav", (0.3 * np.sin(2 * np.pi * pitch * (1 + i / 50) * t))
                 .astype(np.float32), 16000)
        rows.append(f"tone{i}.wav,a tone of {pitch} hertz")
    (tmp_path / "captions.csv").write_text("\n".join(rows) + "\n")
    proc = subprocess.run(
        [EXE, "fit", "--images", str(root), "--captions", str(tmp_path / "captions.csv"),
         "--image-column", "audio", "--encoders", "text=tfidf", "--epochs", "2",
         "--test-size", "0.25", "--out", str(tmp_path / "pipe"), "--json"],
        capture_output=True, text=True, timeout=900,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    fitted = json.loads(proc.stdout)
    assert sorted(fitted["views"]) == ["audio", "text"] and fitted["model"] == "dual-encoder"
    assert fitted["encoders"]["audio"] == "mfcc"

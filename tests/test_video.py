"""Video files (PyAV) and the moving-mnist-captions set: files the tests write, read back;
captions checked against the motion measured in the decoded frames."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jointspace import load_dataset
from jointspace.data.moving_mnist import DIRECTIONS, moving_digits
from jointspace.data.video_files import read_video, write_video


def counting_frames(t: int = 20) -> np.ndarray:
    """(t, 32, 48) grey frames whose brightness encodes their index (10, 20, …)."""
    return np.stack([np.full((32, 48), 10 * (i + 1), np.uint8) for i in range(t)])


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "libx264"), (".webm", "libvpx-vp9")])
def test_a_written_video_reads_back_frame_by_frame(tmp_path, suffix, codec):
    frames = counting_frames()
    path = write_video(tmp_path / f"v{suffix}", frames, fps=10, codec=codec)
    video = read_video(path)
    assert video.shape == (20, 32, 48, 3) and video.dtype == np.uint8
    levels = video.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(levels, 10 * np.arange(1, 21), atol=3)  # lossy, but close
    assert not list(tmp_path.glob(".*"))  # the temporary file is gone


def test_sampling_at_a_fixed_rate_picks_the_frame_shown_at_each_instant(tmp_path):
    path = write_video(tmp_path / "v.mp4", counting_frames(), fps=10)
    shown = np.round(read_video(path, fps=2.5).mean(axis=(1, 2, 3)) / 10).astype(int) - 1
    np.testing.assert_array_equal(shown, [0, 4, 8, 12, 16])  # t = 0, 0.4, 0.8, 1.2, 1.6 s
    assert len(read_video(path, fps=10)) == 20 and len(read_video(path, max_frames=7)) == 7


def test_a_folder_of_frames_reads_in_name_order(tmp_path):
    for i, frame in enumerate(counting_frames(5)):
        Image.fromarray(frame).save(tmp_path / f"frame_{4 - i:02d}.png")  # names reversed
    video = read_video(tmp_path)
    np.testing.assert_array_equal(video[:, 0, 0, 0], [50, 40, 30, 20, 10])


def test_bad_files_are_clear_errors(tmp_path):
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="text.mp4' is not a readable video"):
        read_video(tmp_path / "text.mp4")
    data = write_video(tmp_path / "v.mp4", counting_frames(), fps=10).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="cut.mp4"):
        read_video(tmp_path / "cut.mp4")
    with pytest.raises(ValueError, match="width and height must be even"):
        write_video(tmp_path / "odd.mp4", np.zeros((3, 31, 32), np.uint8))
    with pytest.raises(ValueError, match="expected uint8"):
        write_video(tmp_path / "f.mp4", np.zeros((3, 32, 32)))


def _centroids(clip: np.ndarray) -> np.ndarray:
    """(T, 2) centre of mass (row, col) of each frame's brightness."""
    rows, cols = np.indices(clip.shape[1:3])
    mass = clip.reshape(len(clip), -1).sum(axis=1)
    return np.stack([(clip * rows).reshape(len(clip), -1).sum(1) / mass,
                     (clip * cols).reshape(len(clip), -1).sum(1) / mass], axis=1)


def _direction(delta: np.ndarray) -> str:
    axis = int(np.argmax(np.abs(delta)))
    return {(0, -1): "up", (0, 1): "down", (1, -1): "left", (1, 1): "right"}[
        (axis, int(np.sign(delta[axis])))]


def test_captions_say_the_motion_the_decoded_frames_show(tmp_path):
    data = load_dataset("moving-mnist-captions", n=60, cache_dir=str(tmp_path))
    motions = data.meta["motions"]
    checked = 0
    for path, caption, motion in zip(data["video"], data["text"], motions):
        clip = read_video(path)[..., 0].astype(float)
        assert clip.shape == (20, 64, 64)
        if motion["kind"] == "two-digit":
            assert " while the digit " in caption
            continue
        c = _centroids(clip)
        first, second = _direction(c[9] - c[0]), _direction(c[19] - c[10])
        assert first == motion["moves"][0] and caption.split(" moves ")[1].startswith(first)
        if motion["kind"] == "two-leg":
            assert second == motion["moves"][1] and caption.endswith(f"then {second}")
        else:  # bounces: comes back the other way, from a wall
            assert DIRECTIONS[second] == tuple(-x for x in DIRECTIONS[first])
            assert caption.endswith("bounces back")
        checked += 1
    assert checked >= 30


def test_the_set_is_seeded_cached_and_keeps_every_digit_whole(tmp_path):
    a, captions, _ = moving_digits(40, seed=3)
    b, again, _ = moving_digits(40, seed=3)
    np.testing.assert_array_equal(a, b)
    assert captions == again and moving_digits(40, seed=4)[1] != captions
    ink = a.reshape(40, 20, -1).astype(int).sum(axis=2)  # one-digit clips: no pixel leaves
    first = load_dataset("moving-mnist-captions", n=10, cache_dir=str(tmp_path))
    stamp = [p.stat().st_mtime_ns for p in sorted(tmp_path.rglob("*.mp4"))]
    second = load_dataset("moving-mnist-captions", n=10, cache_dir=str(tmp_path))
    assert second["text"] == first["text"]
    assert [p.stat().st_mtime_ns for p in sorted(tmp_path.rglob("*.mp4"))] == stamp
    _, _, motions = moving_digits(40, seed=3)
    single = [i for i, m in enumerate(motions) if m["kind"] != "two-digit"]
    assert all(len(set(ink[i])) == 1 for i in single)


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, bytes(range(256)) * 40,
                                     b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
                                     b"\x00\x00\x00\x18ftypmp42" + b"\xff" * 500])
def test_hostile_bytes_are_a_clear_error_naming_the_file(tmp_path, content):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="clip.mp4"):
        read_video(path)


def test_an_audio_only_file_has_no_video_stream(tmp_path):
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(ValueError, match="has no video stream"):
        read_video(path)


def test_a_clip_whose_codec_has_no_decoder_is_a_clear_error():
    """A mutated AVI the slow fuzz run found (a stream PyAV opens without a decoder): a
    ValueError naming the file, not a raw AttributeError."""
    from pathlib import Path

    clip = Path(__file__).parent / "fuzz" / "corpus" / "avi-codec-unknown.avi"
    with pytest.raises(ValueError, match=r"avi-codec-unknown.avi.*codec is unknown"):
        read_video(clip)

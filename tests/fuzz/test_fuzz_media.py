"""Fuzz corpus of image, audio and video files: each malformed file goes through the folder
reader (which must keep the good row and skip or keep the fuzzed one, never raise) and
through the image encoders (HOG, colour histograms, pixels), the audio encoders (MFCC,
log-mel) or the video-frames encoder (finite features, or one clear error naming the file).
See :mod:`fuzz_oracle` for the pass criteria."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_media import (
    big_png,
    image_inputs,
    jpeg_claiming,
    svg_inputs,
    video_inputs,
    video_seed,
    wav_bytes,
    wav_inputs,
)
from fuzz_oracle import Tally, fuzz_settings
from hypothesis import example, given
from PIL import Image

#: inputs per category in the default run; the slow run multiplies them by SLOW_FACTOR
IMAGES = {"png": 80, "jpeg": 60, "gif": 40, "webp": 40, "bmp": 40, "tiff": 40}
SVG, WAV = 60, 120
VIDEOS = {"mp4": 40, "webm": 30, "avi": 30}
SLOW_FACTOR = 4
ENCODERS = ["hog", "color-hist", "pixels"]
EXTS = {"jpeg": "jpg"}


def media_folder(tmp_path: Path, ext: str, good: bytes, good_name: str) -> tuple[Path, Path]:
    root = tmp_path / "media"
    root.mkdir()
    (root / good_name).write_bytes(good)
    column = "audio" if ext == "wav" else "image"
    captions = root / "captions.csv"
    captions.write_text(f"{column},caption\nfuzzed.{ext},fuzzed\n{good_name},good\n")
    return root, captions


def bombs(fmt: str) -> list[bytes]:
    """Explicit inputs at and past the limits: an RGBA PNG of exactly 64 megapixels (the
    most memory any image may take), one a row past the limit, JPEG bombs."""
    if fmt == "png":
        return [big_png(8000, 8000), big_png(8001, 8000)]
    if fmt == "jpeg":
        return [jpeg_claiming(8000, 8000), jpeg_claiming(9000, 9000),
                jpeg_claiming(50_000, 50_000)]
    return []


def with_examples(run, examples: list[bytes]):
    for data in examples:
        run = example(data)(run)
    return run


def fuzz_images(worker, tmp_path: Path, fmt: str, n: int, strategy) -> None:
    ext = EXTS.get(fmt, fmt)
    buf = Path(tmp_path / "good.png")
    Image.new("RGB", (16, 16), "red").save(buf)
    root, captions = media_folder(tmp_path, ext, buf.read_bytes(), "good.png")
    path = root / f"fuzzed.{ext}"
    tally = Tally(f"image/{fmt}")
    encoders = [] if fmt == "svg" else ENCODERS

    @fuzz_settings(n)
    @given(strategy)
    def run(data: bytes) -> None:
        path.write_bytes(data)
        task = {"kind": "image", "root": str(root), "captions": str(captions),
                "expect": ["good"], "path": str(path), "fine": str(root / "good.png"),
                "encoders": encoders}
        tally.check(worker, task, [path.name], data)

    explicit = bombs(fmt)
    with_examples(run, explicit)()
    tally.finish(n + len(explicit))


@pytest.mark.parametrize("fmt", sorted(IMAGES))
def test_malformed_images(worker, tmp_path, fmt):
    fuzz_images(worker, tmp_path, fmt, IMAGES[fmt], image_inputs(fmt))


def test_malformed_svg(worker, tmp_path):
    fuzz_images(worker, tmp_path, "svg", SVG, svg_inputs())


def fuzz_audio(worker, tmp_path: Path, n: int) -> None:
    root, captions = media_folder(tmp_path, "wav", wav_bytes(16000, 1, 16, 1, 1600), "good.wav")
    path = root / "fuzzed.wav"
    tally = Tally("audio/wav")

    @fuzz_settings(n)
    @given(wav_inputs())
    def run(data: bytes) -> None:
        path.write_bytes(data)
        task = {"kind": "audio", "root": str(root), "captions": str(captions),
                "expect": ["good"], "path": str(path), "fine": str(root / "good.wav")}
        tally.check(worker, task, [path.name], data)

    # 1 Hz and 100 Hz: each frame would become 16,000 or 160 samples at 16 kHz
    explicit = [wav_bytes(1, 1, 16, 1, 20_000), wav_bytes(100, 1, 16, 1, 90_000),
                wav_bytes(768_000, 2, 16, 1, 50_000), wav_bytes(0, 1, 16, 1, 100)]
    with_examples(run, explicit)()
    tally.finish(n + len(explicit))


def test_malformed_wav(worker, tmp_path):
    fuzz_audio(worker, tmp_path, WAV)


def fuzz_video(worker, tmp_path: Path, ext: str, n: int) -> None:
    """A folder holding a good clip and the fuzzed one (read as a video view), then the
    video-frames encoder on the fuzzed clip."""
    root, captions = media_folder(tmp_path, ext, video_seed(ext), f"good.{ext}")
    path = root / f"fuzzed.{ext}"
    tally = Tally(f"video/{ext}")

    @fuzz_settings(n)
    @given(video_inputs(ext))
    def run(data: bytes) -> None:
        path.write_bytes(data)
        task = {"kind": "image", "root": str(root), "captions": str(captions),
                "expect": ["good"], "path": str(path), "fine": str(root / f"good.{ext}"),
                "encoders": ["video-frames:size=16"]}
        tally.check(worker, task, [path.name], data)

    run()
    tally.finish(n)


@pytest.mark.parametrize("ext", sorted(VIDEOS))
def test_malformed_video(worker, tmp_path, ext):
    fuzz_video(worker, tmp_path, ext, VIDEOS[ext])


@pytest.mark.slow
@pytest.mark.parametrize("ext", sorted(VIDEOS))
def test_malformed_video_full(worker, tmp_path, ext):
    fuzz_video(worker, tmp_path, ext, VIDEOS[ext] * SLOW_FACTOR)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(IMAGES))
def test_malformed_images_full(worker, tmp_path, fmt):
    fuzz_images(worker, tmp_path, fmt, IMAGES[fmt] * SLOW_FACTOR, image_inputs(fmt))


@pytest.mark.slow
def test_malformed_svg_full(worker, tmp_path):
    fuzz_images(worker, tmp_path, "svg", SVG * SLOW_FACTOR, svg_inputs())


@pytest.mark.slow
def test_malformed_wav_full(worker, tmp_path):
    fuzz_audio(worker, tmp_path, WAV * SLOW_FACTOR)

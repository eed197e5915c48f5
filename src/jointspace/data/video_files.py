"""Video files as frame arrays: read .mp4 / .webm / .mkv / .avi / .mov with PyAV (frames
sampled at a fixed rate), a folder of frame images, and write a video atomically.

Reading is bounded: a file whose header claims more than ``MAX_SECONDS`` of video, or frames
over ``MAX_PIXELS``, is refused before decoding, so a hostile file cannot take minutes or
gigabytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: the suffixes read as video files
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov")
#: the longest video read (seconds, from the container's header)
MAX_SECONDS = 600.0
#: the largest frame read (pixels)
MAX_PIXELS = 4096 * 4096
#: the most frames returned
MAX_FRAMES = 10_000


def read_video(path: str | os.PathLike, fps: float | None = None,
               max_frames: int = MAX_FRAMES) -> np.ndarray:
    """The frames of a video file as a (T, H, W, 3) uint8 RGB array.

    Args:
        path: a video file (one of :data:`VIDEO_SUFFIXES`), or a folder of frame images
            (read in name order).
        fps: sample the frames at this rate (the frame shown at each instant 0, 1/fps,
            2/fps, …); None: every frame.
        max_frames: at most this many frames (the first ones).
    Raises:
        ValueError: not a readable video, no video stream, too long or too large (names the
            file and what was expected).
    """
    p = Path(path)
    if p.is_dir():
        return _read_frame_folder(p, max_frames)
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps={fps!r}; expected a positive number or None")
    import av

    try:
        container = av.open(str(p))
    except (av.FFmpegError, OSError) as exc:
        raise ValueError(f"{str(p)!r} is not a readable video ({type(exc).__name__}: "
                         f"{exc})") from None
    with container:
        if not container.streams.video:
            raise ValueError(f"{str(p)!r} has no video stream")
        stream = container.streams.video[0]
        if stream.codec_context is None:  # a stream whose codec FFmpeg has no decoder for
            raise ValueError(f"{str(p)!r}: its video stream's codec is unknown or has no "
                             "decoder here; expected a video FFmpeg decodes (H.264, VP9, …)")
        _check_bounds(p, container, stream)
        frames, times = [], []
        try:
            for frame in container.decode(stream):
                if frame is None:  # a packet that decoded to nothing
                    continue
                if frame.width * frame.height > MAX_PIXELS:
                    raise ValueError(f"{str(p)!r} has {frame.width} × {frame.height} frames; "
                                     f"at most {MAX_PIXELS:,} pixels are read")
                times.append(float(frame.time) if frame.time is not None else len(times))
                frames.append(frame.to_ndarray(format="rgb24"))
                if fps is None and len(frames) >= max_frames:
                    break
                if len(frames) > 2 * MAX_FRAMES:
                    raise ValueError(f"{str(p)!r} has over {2 * MAX_FRAMES:,} frames")
        except av.FFmpegError as exc:
            raise ValueError(f"{str(p)!r}: the video is damaged ({type(exc).__name__}: "
                             f"{exc})") from None
    if not frames:
        raise ValueError(f"{str(p)!r} holds no frames")
    if fps is not None:
        frames = [frames[i] for i in _sample_at(np.asarray(times), fps)]
    return np.stack(frames[:max_frames])


def _check_bounds(path: Path, container, stream) -> None:  # noqa: ANN001 - PyAV objects
    """Refuse a video whose header claims more than MAX_SECONDS or frames over MAX_PIXELS."""
    seconds = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / 1_000_000
    if seconds is not None and seconds > MAX_SECONDS:
        raise ValueError(f"{str(path)!r} is {seconds:.0f} s long; at most {MAX_SECONDS:.0f} s "
                         "are read")
    width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
    if width * height > MAX_PIXELS:
        raise ValueError(f"{str(path)!r} has {width} × {height} frames; at most "
                         f"{MAX_PIXELS:,} pixels are read")


def _sample_at(times: np.ndarray, fps: float) -> list[int]:
    """Indices of the frames shown at instants t0, t0 + 1/fps, … (the last frame whose time
    is ≤ the instant), up to the last frame's time."""
    start, end = times[0], times[-1]
    instants = start + np.arange(int(np.floor((end - start) * fps + 1e-9)) + 1) / fps
    return [int(np.searchsorted(times, t + 1e-9, side="right") - 1) for t in instants]


def _read_frame_folder(folder: Path, max_frames: int) -> np.ndarray:
    """The image files of ``folder`` in name order as (T, H, W, 3) uint8."""
    from jointspace.data.image_files import open_image

    files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
    if not files:
        raise ValueError(f"frame folder {str(folder)!r} holds no images")
    frames = [np.asarray(open_image(f).convert("RGB")) for f in files[:max_frames]]
    if len({f.shape for f in frames}) > 1:
        raise ValueError(f"frame folder {str(folder)!r} mixes frame sizes "
                         f"{sorted({f.shape[:2] for f in frames})}")
    return np.stack(frames)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 10,
                codec: str = "libx264") -> Path:
    """Write frames to a video file atomically (a temporary file renamed into place).

    Args:
        path: the file to write (.mp4, .webm, …).
        frames: (T, H, W) grey or (T, H, W, 3) RGB uint8; H and W even (what yuv420p needs).
        fps: frames per second.
        codec: an FFmpeg encoder ("libx264", "libvpx-vp9", "mpeg4").
    Returns:
        the path.
    Raises:
        ValueError: frames of the wrong shape or type (names what was expected).
    """
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or len(frames) == 0 \
            or (frames.ndim == 4 and frames.shape[3] != 3):
        raise ValueError(f"frames are {frames.dtype} {frames.shape}; expected uint8 (T, H, W) "
                         "or (T, H, W, 3) with T ≥ 1")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"frames are {frames.shape[2]} × {frames.shape[1]}; width and height "
                         "must be even")
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=3)
    target = Path(path)
    tmp = target.with_name(f".{target.stem}.tmp-{os.getpid()}{target.suffix}")
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream(codec, rate=fps)
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": "12"}
            for image in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target

"""Video encoder: a clip (a video file, a folder of frames, or a (T, H, W[, C]) array) as T
frames sampled at a fixed rate, each resized and flattened: one row of T per-frame feature
vectors, which the temporal towers (mean pooling, temporal convolution, a temporal
transformer) read frame by frame."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from PIL import Image

from jointspace.encoders.base import Encoder, check_media, register


@register("video-frames")
class VideoFramesEncoder(Encoder):
    """Per-frame pixels of each clip: (n, T·H·W) for grey (or (n, T·H·W·3) for RGB).

    Args:
        frames: T, frames per clip; a shorter clip repeats its last frame, a longer one
            keeps its first T.
        fps: the rate frames are sampled at (None: every frame).
        size: each frame's side after resizing.
        color: "gray" or "rgb".

    Rows are frame-major: frame t's features are columns t·F … (t+1)·F − 1, F = H·W(·3),
    as :class:`~jointspace.models.deep.temporal.TemporalTower` reads them.
    """

    def __init__(self, frames: int = 20, fps: float | None = None, size: int = 32,
                 color: Literal["gray", "rgb"] = "gray") -> None:
        self.frames = frames
        self.fps = fps
        self.size = size
        self.color = color

    def transform(self, X: Any) -> np.ndarray:
        """(n, T·F) float32 in [0, 1]."""
        from jointspace.data.video_files import read_video

        if not isinstance(self.frames, int) or self.frames < 1:
            raise ValueError(f"video encoder frames={self.frames!r}; expected an integer ≥ 1")
        if self.color not in ("gray", "rgb"):
            raise ValueError(f"video encoder color={self.color!r}; expected 'gray' or 'rgb'")
        rows = []
        for i, item in enumerate(check_media(X, self.name, (4, 5), "video")):
            clip = np.asarray(item) if isinstance(item, np.ndarray) else \
                read_video(item, fps=self.fps, max_frames=self.frames)
            if clip.ndim not in (3, 4) or clip.shape[0] == 0:
                raise ValueError(f"video {i} has shape {clip.shape}; expected (T, H, W[, C])")
            rows.append(self._frames(clip))
        return np.stack(rows).astype(np.float32)

    def _frames(self, clip: np.ndarray) -> np.ndarray:
        """(T, H, W[, C]) uint8 → (frames · F,) resized frames in [0, 1]."""
        mode = "L" if self.color == "gray" else "RGB"
        out = []
        for frame in clip[: self.frames]:
            image = Image.fromarray(np.asarray(frame, dtype=np.uint8)).convert(mode)
            image = image.resize((self.size, self.size), Image.Resampling.BILINEAR)
            out.append(np.asarray(image, dtype=np.float32).ravel() / 255.0)
        out += [out[-1]] * (self.frames - len(out))
        return np.concatenate(out)

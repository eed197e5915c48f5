"""Image encoders: raw pixels, HOG and color histograms (and, in :mod:`.torch_image`, a
user's torch model loaded from a local file, ``torch:<path>``).

Inputs are a list of image file paths (anything Pillow reads: PNG, JPEG, …), a list of
arrays (H, W, 3) or (H, W), or one array (n, H, W, 3) / (n, H, W). uint8 arrays are 0–255;
float arrays must lie in [0, 1] and are quantized to 8 bits, exactly as if they had been
saved as PNG, so a path and its pixels give the same features. Transparent images (RGBA,
LA, palette or single-colour transparency in a file; (H, W, 4) RGBA arrays) are composited
on white, as the OpenClipArt renders are.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from jointspace.data.image_files import open_image
from jointspace.encoders.base import Encoder, check_media, register

Size = int | tuple[int, int]


def parse_size(size: Size, encoder: str) -> tuple[int, int]:
    """``size`` as (height, width)."""
    h, w = (size, size) if isinstance(size, int | np.integer) else tuple(size)
    if int(h) < 1 or int(w) < 1:
        raise ValueError(f"image encoder {encoder!r} size is {size!r}; expected ≥ 1 pixel")
    return int(h), int(w)


def to_rgb(img: Image.Image) -> Image.Image:
    """``img`` as RGB; a transparent image (alpha channel, or a palette / single colour marked
    transparent) is composited on white first, so transparent pixels read as white."""
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        out = Image.new("RGB", rgba.size)
        # in strips of about 4 megapixels: a 64-megapixel image needs no full-size copies
        # beyond the result (each pixel is composited alone, so the result is the same)
        step = max(1, (1 << 22) // max(rgba.width, 1))
        for top in range(0, rgba.height, step):
            box = (0, top, rgba.width, min(top + step, rgba.height))
            strip = rgba.crop(box)
            white = Image.new("RGBA", strip.size, (255, 255, 255, 255))
            out.paste(Image.alpha_composite(white, strip).convert("RGB"), box[:2])
        return out
    return img.convert("RGB")


def read_image(item: Any, encoder: str, index: int) -> Image.Image:
    """One item as an RGB PIL image (transparent images composited on white).

    Raises:
        FileNotFoundError: a path that does not exist (names it).
        ValueError: a file Pillow cannot decode, or an array of the wrong shape / range.
    """
    if isinstance(item, str | os.PathLike):
        path = os.fspath(item)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"image encoder {encoder!r}: image file {path!r} (item {index}) does not exist"
            )
        try:
            with open_image(path) as img:
                return to_rgb(img)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise ValueError(
                f"image encoder {encoder!r} could not read image file {path!r} (item {index}): "
                f"{exc}"
            ) from exc
    arr = np.asarray(item)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(
            f"image encoder {encoder!r}: item {index} has shape {arr.shape}; expected "
            "(H, W, 3), (H, W, 4) or (H, W)"
        )
    if arr.dtype != np.uint8:
        if arr.dtype.kind == "f":
            if arr.size and (np.nanmin(arr) < 0.0 or np.nanmax(arr) > 1.0):
                raise ValueError(
                    f"image encoder {encoder!r}: item {index} is a float image with values in "
                    f"[{np.nanmin(arr):g}, {np.nanmax(arr):g}]; expected [0, 1] (or pass uint8)"
                )
            arr = np.round(np.nan_to_num(arr) * 255.0)
        elif arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(
                f"image encoder {encoder!r}: item {index} has integer values outside 0–255"
            )
        arr = arr.astype(np.uint8)
    return to_rgb(Image.fromarray(np.ascontiguousarray(arr)))


def iter_images(X: Any, encoder: str) -> Iterator[Image.Image]:
    """The items of ``X`` as RGB PIL images, one at a time (see the module docstring)."""
    for i, item in enumerate(check_media(X, encoder, (3, 4), "image")):
        yield read_image(item, encoder, i)


def resize_image(img: Image.Image, hw: tuple[int, int]) -> Image.Image:
    if img.size == (hw[1], hw[0]):
        return img
    return img.resize((hw[1], hw[0]), Image.Resampling.BILINEAR)


def _stack(rows: list[np.ndarray], encoder: str) -> np.ndarray:
    if not rows:
        raise ValueError(f"image encoder {encoder!r} got 0 images; expected at least 1")
    return np.stack(rows).astype(np.float32, copy=False)


@register("pixels")
class PixelEncoder(Encoder):
    """Raw pixels: each image resized to ``size``, scaled to [0, 1] and flattened.

    Args:
        size: output side (int) or (height, width).
        color: ``"rgb"`` or ``"gray"``.

    ``transform`` returns (n, H·W·3) for RGB (row-major, channels last) or (n, H·W).
    """

    def __init__(self, size: Size = 32, color: Literal["rgb", "gray"] = "rgb") -> None:
        self.size = size
        self.color = color

    def transform(self, X: Any) -> np.ndarray:
        """(n, H·W·C) float32 pixels in [0, 1]."""
        if self.color not in ("rgb", "gray"):
            raise ValueError(f"image encoder 'pixels' color is {self.color!r}; 'rgb' or 'gray'")
        hw = parse_size(self.size, self.name)
        rows = []
        for img in iter_images(X, self.name):
            img = resize_image(img, hw)
            if self.color == "gray":
                img = img.convert("L")
            rows.append(np.asarray(img, dtype=np.float32).ravel() / 255.0)
        return _stack(rows, self.name)


@register("hog")
class HogEncoder(Encoder):
    """Histogram of oriented gradients (``skimage.feature.hog``) of the grayscale image
    resized to ``size``.

    Args:
        size: side (int) or (height, width) of the resized image.
        orientations, pixels_per_cell, cells_per_block, block_norm: as in skimage.

    ``transform`` returns (n, d) with d = blocks_y · blocks_x · cells_per_block² ·
    orientations (1,764 for the defaults: 64 px, 8 px cells, 2 × 2 blocks, 9 bins).
    """

    def __init__(
        self,
        size: Size = 64,
        orientations: int = 9,
        pixels_per_cell: int = 8,
        cells_per_block: int = 2,
        block_norm: str = "L2-Hys",
    ) -> None:
        self.size = size
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm

    def transform(self, X: Any) -> np.ndarray:
        """(n, d) float32 HOG descriptors."""
        from skimage.feature import hog

        hw = parse_size(self.size, self.name)
        if min(hw) < self.pixels_per_cell * self.cells_per_block:
            raise ValueError(
                f"image encoder 'hog' size {self.size!r} is smaller than one block "
                f"({self.pixels_per_cell * self.cells_per_block} px)"
            )
        rows = []
        for img in iter_images(X, self.name):
            gray = np.asarray(resize_image(img, hw).convert("L"), dtype=np.float32) / 255.0
            rows.append(
                hog(
                    gray,
                    orientations=self.orientations,
                    pixels_per_cell=(self.pixels_per_cell,) * 2,
                    cells_per_block=(self.cells_per_block,) * 2,
                    block_norm=self.block_norm,
                    feature_vector=True,
                )
            )
        return _stack(rows, self.name)


@register("color-hist")
class ColorHistEncoder(Encoder):
    """Per-channel color histograms, each normalized to sum to 1.

    Args:
        bins: bins per channel (over 0–255).
        space: ``"rgb"`` or ``"hsv"`` (Pillow's HSV, every channel 0–255).
        size: resize first to this side or (height, width) (None: native size).

    ``transform`` returns (n, 3·bins): channel 0's bins, then channel 1's, then channel 2's.
    """

    def __init__(
        self, bins: int = 16, space: Literal["rgb", "hsv"] = "rgb", size: Size | None = None
    ) -> None:
        self.bins = bins
        self.space = space
        self.size = size

    def transform(self, X: Any) -> np.ndarray:
        """(n, 3·bins) float32 histograms; each channel's block sums to 1."""
        if self.space not in ("rgb", "hsv"):
            raise ValueError(f"image encoder 'color-hist' space is {self.space!r}; 'rgb' or 'hsv'")
        if not 1 <= int(self.bins) <= 256:
            raise ValueError(f"image encoder 'color-hist' bins is {self.bins}; expected 1–256")
        bins = int(self.bins)
        hw = None if self.size is None else parse_size(self.size, self.name)
        lut = (np.arange(256) * bins) // 256  # value → bin
        rows = []
        for img in iter_images(X, self.name):
            if hw is not None:
                img = resize_image(img, hw)
            if self.space == "hsv":
                img = img.convert("HSV")
            # Pillow counts each channel's 256 values in C: no per-pixel array, so a photo of
            # 64 megapixels costs no memory beyond its pixels
            counts = np.asarray(img.histogram(), dtype=np.float64).reshape(3, 256)
            hist = np.concatenate([np.bincount(lut, weights=c, minlength=bins) for c in counts])
            rows.append(hist / max(img.width * img.height, 1))
        return _stack(rows, self.name)

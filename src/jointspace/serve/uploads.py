"""Checking an uploaded image before it reaches an encoder: its size in bytes, what it is
(found by decoding it, not from its name or declared type), its pixel count, and that it
decodes to the end."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")


@dataclass(frozen=True)
class UploadLimits:
    """Limits on an uploaded query image.

    Attributes:
        max_bytes: largest upload (default 10 MB).
        max_pixels: largest width × height (default 25 megapixels).
        formats: image formats accepted, as Pillow names them.
    """

    max_bytes: int = 10_000_000
    max_pixels: int = 25_000_000
    formats: tuple[str, ...] = FORMATS


class UploadError(ValueError):
    """An upload that is refused, with the HTTP status that says why (400, 413 or 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def decode_image(data: bytes, limits: UploadLimits, name: str = "image") -> np.ndarray:
    """An uploaded image as an (H, W, 3) uint8 array, transparent pixels on white.

    Raises:
        UploadError: 413 for too many bytes or pixels, 415 for bytes that are not an image of
            an accepted format, 400 for an image that does not decode (e.g. truncated).
    """
    from PIL import Image, UnidentifiedImageError

    from jointspace.encoders.image import to_rgb

    if len(data) == 0:
        raise UploadError(400, f"{name} is empty")
    if len(data) > limits.max_bytes:
        raise UploadError(413, f"{name} has {len(data):,} bytes; the limit is "
                               f"{limits.max_bytes:,}")
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise UploadError(413, f"{name} is too large to decode: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise UploadError(415, f"{name} is not an image (accepted: {', '.join(limits.formats)})"
                          ) from None
    with img:
        if img.format not in limits.formats:
            raise UploadError(415, f"{name} is a {img.format} image; accepted: "
                                   f"{', '.join(limits.formats)}")
        width, height = img.size
        if width * height > limits.max_pixels:
            raise UploadError(413, f"{name} is {width} × {height} = {width * height:,} pixels; "
                                   f"the limit is {limits.max_pixels:,}")
        try:
            img.load()
            rgb = to_rgb(img)
        except (OSError, ValueError, SyntaxError) as exc:
            raise UploadError(400, f"{name} could not be decoded: {exc}") from None
    return np.asarray(rgb)

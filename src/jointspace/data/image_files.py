"""Opening image files safely: a documented pixel limit checked from the header, before any
pixel is decoded, so a small file claiming a huge image (a decompression bomb) costs nothing."""

from __future__ import annotations

import os
from typing import Any

#: the most pixels (width × height) an image file may have: 64 megapixels, above every
#: current camera's photos; a 9,000 × 9,000 header (81 megapixels, 243 MB decoded) is refused
MAX_IMAGE_PIXELS = 64_000_000


def open_image(path: str | os.PathLike) -> Any:
    """The image at ``path`` opened by Pillow, its size checked, its pixels not yet decoded.

    Raises:
        ValueError: more than :data:`MAX_IMAGE_PIXELS` pixels, or a file Pillow cannot
            identify (names the file).
        OSError: the file cannot be read.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ValueError(f"image {os.fspath(path)!r} is too large to decode: {exc}") from None
    except UnidentifiedImageError as exc:
        raise ValueError(f"{os.fspath(path)!r} is not an image Pillow reads: {exc}") from None
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        img.close()
        raise ValueError(
            f"image {os.fspath(path)!r} is {width} × {height} = {width * height:,} pixels; "
            f"the limit is {MAX_IMAGE_PIXELS:,} (jointspace.data.image_files.MAX_IMAGE_PIXELS)"
        )
    return img

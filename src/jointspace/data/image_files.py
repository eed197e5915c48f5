"""Opening image files safely: a documented pixel limit checked from the header, before any
pixel is decoded, so a small file claiming a huge image (a decompression bomb) costs nothing."""

from __future__ import annotations

import os
from typing import Any

#: the most pixels (width × height) an image file may have: 64 megapixels, above every
#: current camera's photos; a 9,000 × 9,000 header (81 megapixels, 243 MB decoded) is refused
MAX_IMAGE_PIXELS = 64_000_000
#: the most elements and bytes an SVG file may have to be rendered: cairosvg takes about
#: 0.15 ms an element and 1.3 s a megabyte of path data, so these bound a render to a few
#: seconds; the largest of OpenClipArt's 8,121 drawings has 12,698 elements and 1.7 MB
MAX_SVG_ELEMENTS = 20_000
MAX_SVG_BYTES = 3_000_000


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


def check_svg_size(path: str | os.PathLike) -> None:
    """Refuse an SVG file too large or complex to render in a few seconds, before rendering.

    Raises:
        ValueError: over :data:`MAX_SVG_BYTES` bytes or :data:`MAX_SVG_ELEMENTS` elements,
            or XML that does not parse (names the file).
        OSError: the file cannot be read.
    """
    from xml.etree import ElementTree

    size = os.path.getsize(path)
    if size > MAX_SVG_BYTES:
        raise ValueError(f"SVG file {os.fspath(path)!r} is {size:,} bytes; the limit is "
                         f"{MAX_SVG_BYTES:,} (jointspace.data.image_files.MAX_SVG_BYTES)")
    elements = 0
    try:
        for _ in ElementTree.iterparse(path):
            elements += 1
            if elements > MAX_SVG_ELEMENTS:
                raise ValueError(
                    f"SVG file {os.fspath(path)!r} has over {MAX_SVG_ELEMENTS:,} elements; too "
                    "complex to render (jointspace.data.image_files.MAX_SVG_ELEMENTS)")
    except ElementTree.ParseError as exc:  # entity bombs too: expat refuses the expansion
        raise ValueError(f"SVG file {os.fspath(path)!r} is not well-formed XML: {exc}") from None

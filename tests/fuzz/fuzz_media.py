"""Hypothesis strategies of malformed media files: byte-level mutations of valid files
(truncations, bit flips, insertions, deletions, interesting values, with a bias to the
header), and files built field by field with random header values — image sizes far past
the pixel limit (decompression bombs), impossible bit depths, sample rates and channel
counts — in PNG, JPEG, GIF, WebP, BMP, TIFF, SVG and WAV; and mutated MP4, WebM and AVI
clips."""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from hypothesis import strategies as st
from PIL import Image

INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff",
               b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"\xff\xff", b"\x00\x01"]
SIZES = st.one_of(st.integers(0, 64), st.sampled_from([255, 256, 8000, 8001, 9000, 65535,
                                                         65536, 2**24, 2**31 - 1, 2**32 - 1]),
                  st.integers(0, 2**32 - 1))


def _apply(data: bytes, ops: list[tuple]) -> bytes:
    out = bytearray(data)
    for op, pos, arg in ops:
        pos = pos % (len(out) + 1)
        if op == "truncate":
            del out[pos:]
        elif op == "flip" and out:
            out[pos % len(out)] ^= 1 << arg
        elif op == "insert":
            out[pos:pos] = arg
        elif op == "delete":
            del out[pos : pos + arg]
        elif op == "set":
            out[pos : pos + len(arg)] = arg
    return bytes(out)


def mutated(seed: bytes, header: int = 128, max_ops: int = 3) -> st.SearchStrategy[bytes]:
    """``seed`` changed by 1 to ``max_ops`` random edits, half of them in the first
    ``header`` bytes (where formats keep sizes and offsets)."""
    n = len(seed)
    pos = st.one_of(st.integers(0, min(header, n)), st.integers(0, n))
    op = st.one_of(
        st.tuples(st.just("truncate"), pos, st.just(0)),
        st.tuples(st.just("flip"), pos, st.integers(0, 7)),
        st.tuples(st.just("insert"), pos, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), pos, st.integers(1, 64)),
        st.tuples(st.just("set"), pos, st.sampled_from(INTERESTING)),
    )
    return st.lists(op, min_size=1, max_size=max_ops).map(lambda ops: _apply(seed, ops))


def encoded(fmt: str, mode: str = "RGB", size: tuple[int, int] = (16, 12), **kw) -> bytes:
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "P": 1, "1": 1}[mode]
    arr = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    img = Image.fromarray(arr[:, :, 0] if channels == 1 else arr,
                          "L" if channels == 1 else mode)
    if mode in ("P", "1"):
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


SEEDS = {
    "png": [encoded("PNG"), encoded("PNG", "RGBA"), encoded("PNG", "P"),
            encoded("PNG", "L", interlace=1)],
    "jpeg": [encoded("JPEG"), encoded("JPEG", "L"), encoded("JPEG", progressive=True)],
    "gif": [encoded("GIF", "P"), encoded("GIF", "L")],
    "webp": [encoded("WEBP"), encoded("WEBP", "RGBA", lossless=True)],
    "bmp": [encoded("BMP"), encoded("BMP", "P"), encoded("BMP", "1")],
    "tiff": [encoded("TIFF"), encoded("TIFF", "RGB", compression="tiff_deflate")],
}


@functools.cache
def _zeros(n: int) -> bytes:
    """zlib of 2^k zero bytes, the smallest such ≥ n (at most 256 MB), computed once."""
    return zlib.compress(b"\x00" * (1 << min(max(n, 1).bit_length(), 28)), 9)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@st.composite
def png_built(draw) -> bytes:
    """A PNG of valid chunks (right CRCs) with random IHDR fields and pixel data: sizes up to
    2³²−1 (bombs), zlib streams that expand past the limit, text-chunk bombs."""
    w, h = draw(SIZES), draw(SIZES)
    depth, colour = draw(st.sampled_from([1, 2, 4, 8, 16, 0, 3, 255])), \
        draw(st.sampled_from([0, 2, 3, 4, 6, 1, 7]))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, draw(st.sampled_from([0, 1, 2])))
    chunks = [_chunk(b"IHDR", ihdr)]
    if draw(st.booleans()):
        chunks.append(_chunk(b"PLTE", draw(st.binary(max_size=800))))
    if draw(st.booleans()):
        chunks.append(_chunk(b"tRNS", draw(st.binary(max_size=300))))
    if draw(st.booleans()):  # compressed text that expands to 50 MB
        chunks.append(_chunk(b"zTXt", b"k\x00\x00" + _zeros(50_000_000)))
    kind = draw(st.sampled_from(["zeros", "random", "none"]))
    if kind == "zeros":  # a stream that inflates to what the header claims, 256 MB at most
        chunks.append(_chunk(b"IDAT", _zeros((w * 8 + 1) * h)))
    elif kind == "random":
        chunks.append(_chunk(b"IDAT", draw(st.binary(max_size=200))))
    if draw(st.booleans()):
        chunks.append(_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


@st.composite
def jpeg_built(draw) -> bytes:
    """A real JPEG with its frame header's size, precision and component count rewritten."""
    data = bytearray(draw(st.sampled_from(SEEDS["jpeg"])))
    sof = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
    h, w = draw(st.integers(0, 65535)), draw(st.integers(0, 65535))
    data[sof + 4] = draw(st.sampled_from([8, 12, 16, 0, 255]))
    data[sof + 5 : sof + 9] = struct.pack(">HH", h, w)
    if draw(st.booleans()):
        data[sof + 9] = draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def gif_built(draw) -> bytes:
    """A GIF whose screen and first image claim random sizes, with random LZW data."""
    sw, sh, iw, ih = (draw(st.integers(0, 65535)) for _ in range(4))
    flags = draw(st.integers(0, 255))
    table = b"\x00\x00\x00" * (2 << (flags & 7)) if flags & 0x80 else b""
    body = draw(st.binary(max_size=300))
    return (b"GIF89a" + struct.pack("<HHBBB", sw, sh, flags, 0, 0) + table + b"," +
            struct.pack("<HHHHB", 0, 0, iw, ih, 0) + bytes([draw(st.integers(0, 12))]) +
            bytes([min(len(body), 255)]) + body[:255] + b"\x00;")


@st.composite
def webp_built(draw) -> bytes:
    """A WebP container: VP8X with a random canvas (up to 16,384² pixels), or VP8 / VP8L
    bitstreams with random sizes and data."""
    kind = draw(st.sampled_from(["VP8X", "VP8L", "VP8 "]))
    data = draw(st.binary(max_size=200))
    if kind == "VP8X":
        w, h = draw(st.integers(0, 2**24 - 1)), draw(st.integers(0, 2**24 - 1))
        body = bytes([draw(st.integers(0, 255)), 0, 0, 0]) + w.to_bytes(3, "little") + \
            h.to_bytes(3, "little")
        chunks = _riff(b"VP8X", body) + _riff(draw(st.sampled_from([b"VP8L", b"ALPH", b"ANIM"])),
                                              data)
    elif kind == "VP8L":
        w, h = draw(st.integers(0, 2**14 - 1)), draw(st.integers(0, 2**14 - 1))
        chunks = _riff(b"VP8L", b"\x2f" + struct.pack("<I", w | (h << 14)) + data)
    else:
        w, h = draw(st.integers(0, 2**14 - 1)), draw(st.integers(0, 2**14 - 1))
        chunks = _riff(b"VP8 ", b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", w, h) + data)
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WEBP" + chunks


def _riff(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) % 2)


@st.composite
def bmp_built(draw) -> bytes:
    """A BMP with random width, height (negative: top-down), bit depth, compression, palette
    size and pixel offset."""
    w = draw(st.integers(-(2**31), 2**31 - 1))
    h = draw(st.integers(-(2**31), 2**31 - 1))
    bpp = draw(st.sampled_from([0, 1, 2, 4, 8, 16, 24, 32, 64, 65535]))
    comp = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 11, 99]))
    colours = draw(st.sampled_from([0, 2, 256, 2**31 - 1, 2**32 - 1]))
    pixels = draw(st.binary(max_size=400))
    offset = draw(st.sampled_from([54, 0, 2**32 - 1, 54 + 4 * min(colours, 256)]))
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, bpp, comp, len(pixels), 2835, 2835,
                       colours, 0)
    palette = b"\x00" * 4 * min(colours, 256)
    size = 14 + len(info) + len(palette) + len(pixels)
    return b"BM" + struct.pack("<IHHI", size, 0, 0, offset) + info + palette + pixels


@st.composite
def tiff_built(draw) -> bytes:
    """A little-endian TIFF of one IFD with random width, length, bits, samples, compression
    and strip offsets / counts."""
    tags = {256: draw(SIZES), 257: draw(SIZES), 258: draw(st.sampled_from([1, 8, 16, 0, 99])),
            259: draw(st.sampled_from([1, 5, 7, 8, 32773, 0, 99])), 262: draw(st.integers(0, 9)),
            273: draw(st.sampled_from([8, 200, 2**32 - 1])),
            277: draw(st.sampled_from([1, 3, 4, 0, 65535])), 278: draw(SIZES),
            279: draw(st.sampled_from([0, 16, 2**31]))}
    entries = b"".join(struct.pack("<HHII", t, 4, 1, v) for t, v in sorted(tags.items()))
    ifd = struct.pack("<H", len(tags)) + entries + b"\x00\x00\x00\x00"
    return b"II*\x00" + struct.pack("<I", 8) + ifd + draw(st.binary(max_size=300))


@functools.cache
def big_png(width: int, height: int) -> bytes:
    """A valid RGBA PNG of ``width`` × ``height`` half-transparent pixels (1.3 MB for 64
    megapixels), made once."""
    row = b"\x00" + b"\x10\x20\x30\x80" * width
    stream = zlib.compressobj(1)
    idat = b"".join(stream.compress(row) for _ in range(height)) + stream.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + \
        _chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose frame header claims ``width`` × ``height`` pixels."""
    data = bytearray(SEEDS["jpeg"][0])
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


IMAGE_BUILT = {"png": png_built(), "jpeg": jpeg_built(), "gif": gif_built(),
               "webp": webp_built(), "bmp": bmp_built(), "tiff": tiff_built()}


def image_inputs(fmt: str) -> st.SearchStrategy[bytes]:
    """Malformed ``fmt`` files: a mutated valid file, a built one, or a built one mutated."""
    seeds = st.sampled_from(SEEDS[fmt]).flatmap(mutated)
    built = IMAGE_BUILT[fmt]
    return st.one_of(seeds, built, built.flatmap(mutated))


SVG_SIZES = st.sampled_from(["8", "0", "-5", "1e9", "100000", "1e308", "nan", "inf", "10%",
                             "12em", "", "a", "99999999999999999999"])


@st.composite
def svg_inputs(draw) -> bytes:
    """SVG documents: random sizes and view boxes, deep nesting, self-referencing <use>,
    entity expansion (billion laughs), external references, many elements, bad XML and
    bad encodings, or a mutated valid document."""
    kind = draw(st.sampled_from(["sizes", "nesting", "use", "entities", "external", "many",
                                 "mutated", "encoding"]))
    w, h, vb = draw(SVG_SIZES), draw(SVG_SIZES), draw(st.sampled_from(
        ["0 0 8 8", "0 0 0 0", "0 0 -1 -1", "0 0 1e308 1e308", "a b c d", "0 0 8"]))
    head = f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/' \
           f'xlink" width="{w}" height="{h}" viewBox="{vb}">'
    body = '<rect width="8" height="8" fill="red"/>'
    if kind == "nesting":
        depth = draw(st.sampled_from([100, 1000, 5000, 50_000]))
        body = "<g>" * depth + body + "</g>" * depth
    elif kind == "use":
        body = ('<g id="a"><use xlink:href="#b"/></g><g id="b"><use xlink:href="#a"/></g>'
                '<use id="c" xlink:href="#c"/>' +
                "".join(f'<g id="l{i}"><use xlink:href="#l{i - 1}"/><use xlink:href="#l{i - 1}"/>'
                        '</g>' for i in range(1, draw(st.integers(1, 40)))))
    elif kind == "entities":
        ents = '<!ENTITY a0 "lol">' + "".join(
            f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
        return f'<?xml version="1.0"?><!DOCTYPE svg [{ents}]>{head}<text>&a9;</text></svg>' \
            .encode()
    elif kind == "external":
        body = draw(st.sampled_from([
            '<image xlink:href="file:///etc/passwd" width="8" height="8"/>',
            '<image xlink:href="http://127.0.0.1:9/x.png" width="8" height="8"/>',
            '<use xlink:href="/dev/zero#x"/>', '<style>@import url("/dev/urandom");</style>']))
    elif kind == "many":
        body = '<path d="M0 0 L8 8 L0 8 Z"/>' * draw(st.sampled_from([1000, 20_000, 100_000]))
    doc = (head + body + "</svg>").encode()
    if kind == "mutated":
        return draw(mutated(doc, header=len(doc)))
    if kind == "encoding":
        return draw(st.sampled_from([doc.decode().encode("utf-16"), b"\xff\xfe\x00" + doc,
                                     doc.replace(b"red", b"r\xe9d\xff"), doc[: len(doc) // 2],
                                     b'<?xml version="1.0" encoding="ebcdic"?>' + doc]))
    return doc


def wav_bytes(rate: int, channels: int, bits: int, fmt: int, frames: int,
              data_len: int | None = None, block: int | None = None) -> bytes:
    """A RIFF/WAVE file with the given header fields and ``frames`` frames of noise."""
    width = max(bits // 8, 1)
    frames = min(frames, 200_000 // (max(channels, 1) * width))  # a file of 200 kB at most
    samples = np.random.default_rng(frames).integers(0, 256, frames * max(channels, 1) * width,
                                                     dtype=np.uint8).tobytes()
    block = (max(channels, 1) * width if block is None else block) & 0xFFFF
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, (rate * block) & 0xFFFFFFFF,
                            block, bits)
    length = len(samples) if data_len is None else data_len
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk + b"data" + \
        struct.pack("<I", length) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


@st.composite
def wav_built(draw) -> bytes:
    """A WAV with random sample rate (0 to 2³²−1), channels (0 to 65,535), bit depth, format
    code, frame count, data length and block align."""
    return wav_bytes(
        rate=draw(st.one_of(st.sampled_from([0, 1, 7, 100, 8000, 16000, 44100, 192000, 768000,
                                             768001, 2**31, 2**32 - 1]),
                            st.integers(0, 2**32 - 1))),
        channels=draw(st.one_of(st.sampled_from([0, 1, 2, 6, 255, 1024, 65535]),
                                st.integers(0, 65535))),
        bits=draw(st.sampled_from([0, 1, 4, 8, 12, 16, 20, 24, 32, 64, 65535])),
        fmt=draw(st.sampled_from([1, 3, 0, 2, 6, 7, 0x11, 0xFFFE, 0x55, 65535])),
        frames=draw(st.sampled_from([0, 1, 2, 100, 2000, 20_000])),
        data_len=draw(st.sampled_from([None, None, 0, 1, 2**31 - 1, 2**32 - 1])),
        block=draw(st.sampled_from([None, None, 0, 1, 3, 65535])),
    )


WAV_SEEDS = [wav_bytes(16000, 1, 16, 1, 1600), wav_bytes(44100, 2, 16, 1, 2000),
             wav_bytes(8000, 1, 8, 1, 800), wav_bytes(16000, 1, 32, 3, 1600),
             wav_bytes(22050, 2, 24, 1, 500)]


def wav_inputs() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(WAV_SEEDS).flatmap(lambda s: mutated(s, header=44)),
                     wav_built(), wav_built().flatmap(lambda s: mutated(s, header=44)))


VIDEO_CODECS = {"mp4": "libx264", "webm": "libvpx-vp9", "avi": "mpeg4"}


@functools.cache
def video_seed(ext: str) -> bytes:
    """A valid 8-frame 32 × 32 clip of a moving square in the container ``ext``."""
    import tempfile
    from pathlib import Path

    from jointspace.data.video_files import write_video

    frames = np.zeros((8, 32, 32), np.uint8)
    for t in range(8):
        frames[t, 10:16, 2 + 3 * t : 8 + 3 * t] = 255
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / f"seed.{ext}", frames, codec=VIDEO_CODECS[ext])
        return path.read_bytes()


def video_inputs(ext: str) -> st.SearchStrategy[bytes]:
    """Byte-level mutations of a valid clip (header-biased), and a few raw byte strings."""
    return st.one_of(mutated(video_seed(ext), header=256, max_ops=4),
                     mutated(video_seed(ext), header=4096, max_ops=8),
                     st.binary(min_size=0, max_size=256))

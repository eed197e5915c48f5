"""Readers and decoders against hostile or broken files: each gives one clear error naming the
file (and line), or a reported skip with its reason; never a raw exception of a dependency."""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jointspace.data import from_audio_folder, from_csv, from_folder, from_parquet


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "imgs"
    root.mkdir()
    Image.new("RGB", (16, 16), "red").save(root / "a.png")
    Image.new("RGB", (16, 16), "blue").save(root / "b.png")
    return root


def load(root: Path, captions: Path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return from_folder(root, captions, **kw)


def reasons(data) -> dict[int, str]:
    return {s["row"]: s["reason"] for s in data.meta["skipped"]}


def test_a_name_too_long_for_the_file_system_is_a_reported_skip(folder, tmp_path):
    captions = tmp_path / "c.csv"
    captions.write_text("image,caption\n" + "x" * 300 + ".png,hello\na.png,red\n")
    data = load(folder, captions)
    assert data.views["text"] == ["red"]
    assert reasons(data) == {2: "bad file name: File name too long"}


@pytest.mark.parametrize("body, line, words", [
    ("a.png," + "y" * 140_000 + "\nb.png,blue\n", 2, "field larger than field limit"),
    ('a.png,"red\n' + "b.png,blue\n" * 20_000, None, "field larger than field limit"),
    ('a.png,"red square\nb.png,blue square\n', 3, "unexpected end of data"),
])
def test_csv_that_cannot_be_parsed_is_one_error_naming_file_and_line(folder, tmp_path, body,
                                                                     line, words):
    captions = tmp_path / "c.csv"
    captions.write_text("image,caption\n" + body)
    with pytest.raises(ValueError, match=words) as err:
        load(folder, captions)
    assert "c.csv" in str(err.value) and "line" in str(err.value)
    if line:
        assert f"line {line}:" in str(err.value)


def test_rows_that_span_lines_or_have_extra_fields_are_reported(folder, tmp_path):
    captions = tmp_path / "c.csv"
    captions.write_text('image,caption\na.png,"red\nsquare"\nb.png,blue,EXTRA\nb.png,blue\n')
    data = load(folder, captions)
    assert data.views["text"] == ["blue"]
    assert reasons(data) == {2: "the row spans lines 2–3 (a quote left open?)",
                             4: "the row has 3 fields; the header has 2"}


def test_json_nested_too_deeply_is_a_reported_skip(folder, tmp_path):
    captions = tmp_path / "c.jsonl"
    captions.write_text('{"image": "a.png", "caption": "red"}\n' + "[" * 100_000
                        + "]" * 100_000 + "\n")
    data = load(folder, captions)
    assert data.n_samples == 1 and reasons(data) == {2: "bad JSON: nested too deeply"}


def test_missing_values_are_not_captions(folder, tmp_path):
    captions = tmp_path / "c.csv"
    captions.write_text("image,caption\na.png,nan\nb.png,NaN\na.png,red\n")
    data = load(folder, captions)
    assert data.views["text"] == ["red"]
    assert reasons(data) == {2: "missing value: caption reads 'nan'",
                             3: "missing value: caption reads 'NaN'"}
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"image": ["a.png", "b.png"], "caption": [float("nan"), 1.5]}),
                   tmp_path / "c.parquet")
    data = load(folder, tmp_path / "c.parquet")
    assert data.views["text"] == ["1.5"] and reasons(data) == {1: "empty caption"}


def test_paths_leaving_the_folder_are_refused_unless_allowed(folder, tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "outside.png")
    os.symlink(tmp_path / "outside.png", folder / "link.png")
    captions = tmp_path / "c.csv"
    captions.write_text(f"image,caption\n../outside.png,x\n{tmp_path / 'outside.png'},y\n"
                        "link.png,z\na.png,red\n")
    data = load(folder, captions)
    assert data.views["text"] == ["red"]
    assert all(r.startswith("outside the folder") for r in reasons(data).values())
    assert sorted(reasons(data)) == [2, 3, 4]
    allowed = load(folder, captions, allow_outside=True)
    assert allowed.views["text"] == ["x", "y", "z", "red"]


def test_table_readers_name_the_file(tmp_path):
    (tmp_path / "latin.csv").write_bytes(b"a0,b0\n1,2\n3,\xff4\n")
    with pytest.raises(ValueError, match=r"'.*latin.csv' is not UTF-8 text"):
        from_csv(tmp_path / "latin.csv", {"a": ["a0"], "b": ["b0"]})
    (tmp_path / "dup.csv").write_text("a1,a1,b0\n1,2,3\n")
    with pytest.raises(ValueError, match="names column 'a1' twice"):
        from_csv(tmp_path / "dup.csv", {"a": ["a1*"], "b": ["b0"]})
    (tmp_path / "ok.csv").write_text("a0,b0\n1,2\n3,4\n")
    with pytest.raises(ValueError, match="views is a list; expected a mapping"):
        from_csv(tmp_path / "ok.csv", ["a0", "b0"])
    (tmp_path / "open.csv").write_text('a0,b0\n1,"2\n3,4\n')  # a quote left open
    with pytest.raises(ValueError, match="'.*open.csv' is unreadable"):
        from_csv(tmp_path / "open.csv", {"a": ["a0"], "b": ["b0"]})
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a0": np.arange(1000.0), "b0": np.arange(1000.0)}),
                   tmp_path / "t.parquet")
    data = bytearray((tmp_path / "t.parquet").read_bytes())
    data[100:140] = b"\x00" * 40
    (tmp_path / "bad.parquet").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="'.*bad.parquet' is unreadable"):
        from_parquet(tmp_path / "bad.parquet", {"a": ["a0"], "b": ["b0"]})
    assert from_parquet(tmp_path / "t.parquet", {"a": ["a0"], "b": ["b0"]}).n_samples == 1000


def wav_header(rate: int, channels: int = 1, bits: int = 16, frames: int = 100) -> bytes:
    """A WAV file whose header says ``rate`` Hz and ``channels`` channels."""
    data = b"\x00\x00" * frames * max(channels, 1)
    block = max(channels, 1) * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + \
        struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_impossible_audio_headers_are_reported(tmp_path):
    root = tmp_path / "audio"
    root.mkdir()
    t = np.linspace(0, 0.5, 8000, endpoint=False)
    import soundfile as sf

    sf.write(root / "ok.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 16000)
    (root / "rate0.wav").write_bytes(wav_header(0))
    (root / "chan0.wav").write_bytes(wav_header(16000, channels=0))
    captions = tmp_path / "c.csv"
    captions.write_text("audio,caption\nok.wav,a tone\nrate0.wav,zero rate\n"
                        "chan0.wav,no channels\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = from_audio_folder(root, captions)
    assert data.views["text"] == ["a tone"]
    assert sorted(reasons(data)) == [3, 4]
    assert all("audio" in r for r in reasons(data).values())
    from jointspace.encoders import make_encoder

    with pytest.raises(ValueError, match="rate0.wav"):
        make_encoder("mfcc").fit([str(root / "ok.wav")]).transform([str(root / "rate0.wav")])


def test_a_float_wav_holding_nan_is_a_clear_error_before_resampling(tmp_path):
    # found by the slow fuzz run: librosa's resampler raised its own ParameterError
    import soundfile as sf

    from jointspace.encoders import make_encoder

    wave = np.sin(np.linspace(0, 50, 4000)).astype(np.float32)
    wave[100] = np.nan
    sf.write(tmp_path / "nan.wav", wave, 8000, subtype="FLOAT")  # 8 kHz: resampled to 16
    sf.write(tmp_path / "ok.wav", np.nan_to_num(wave), 8000, subtype="FLOAT")
    encoder = make_encoder("mfcc").fit([str(tmp_path / "ok.wav")])
    with pytest.raises(ValueError, match=r"nan\.wav' \(item 0\) has NaN or inf samples"):
        encoder.transform([str(tmp_path / "nan.wav")])


def bomb_jpeg(width: int, height: int) -> bytes:
    """A small real JPEG whose header is rewritten to claim width × height pixels."""
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


BOMB_SCRIPT = """
import resource, sys
from jointspace.encoders import make_encoder
fine, bomb = sys.argv[1], sys.argv[2]
encoders = [make_encoder(s).fit([fine]) for s in ("hog", "color-hist", "pixels", "efficientnet")]
for e in encoders:
    e.transform([fine])  # models loaded before memory is measured
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for e in encoders:
    try:
        e.transform([bomb])
        print("decoded")
    except ValueError as exc:
        print("refused:", str(exc).splitlines()[0])
print("grown_mb", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


@pytest.mark.parametrize("side", [9000, 50_000])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, side):
    import subprocess
    import sys

    from jointspace.data.image_files import MAX_IMAGE_PIXELS

    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(bomb_jpeg(side, side))
    assert len(bomb.read_bytes()) < 3000 and side * side > MAX_IMAGE_PIXELS
    fine = tmp_path / "ok.png"
    Image.new("RGB", (8, 8)).save(fine)
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(fine), str(bomb)],
                         capture_output=True, text=True, timeout=300).stdout.splitlines()
    refusals = [line for line in out if line.startswith("refused:")]
    assert len(refusals) == 4, out  # every encoder: one clear error naming the file
    assert all("bomb.jpg" in line and ("pixels" in line or "too large" in line)
               for line in refusals)
    grown_mb = float(out[-1].split()[1])
    assert grown_mb < 50  # the 243 MB (or 7.5 GB) of pixels were never decoded
    (tmp_path / "c.csv").write_text("image,caption\nbomb.jpg,huge\nok.png,fine\n")
    data = load(tmp_path, tmp_path / "c.csv")
    assert data.views["text"] == ["fine"]
    assert reasons(data)[2].startswith("unreadable image: ValueError")


def test_svg_external_references_are_not_fetched(tmp_path):
    from jointspace.data.readers import _check_image

    secret = tmp_path / "secret.png"
    Image.new("RGB", (50, 50), "red").save(secret)
    svg = tmp_path / "x.svg"
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'width="50" height="50"><rect width="50" height="50" fill="white"/>'
        f'<image xlink:href="file://{secret}" width="50" height="50"/>'
        '<image xlink:href="http://127.0.0.1:9/x.png" width="50" height="50"/></svg>')
    assert _check_image(svg) is None  # renders
    import io

    import cairosvg

    png = cairosvg.svg2png(url=str(svg))
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert (pixels == 255).all()  # white: the referenced red file was not read

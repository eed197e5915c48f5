"""openclipart-speech (titles spoken by espeak-ng): deterministic bytes, variants in other
voices, clips as long as their speech, the cache reused; the log-mel encoder against a
by-hand STFT and a tone whose mel band is known."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jointspace import load_dataset
from jointspace.data import openclipart_speech as speech
from jointspace.data.openclipart import DEFAULT_ROOT
from jointspace.encoders import make_encoder

needs_tools = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or not Path(DEFAULT_ROOT).is_dir(),
    reason="Debian espeak-ng or openclipart-svg is not installed")
LIMIT = 30  # SVGs parsed and rendered: enough for n=8 images with titles


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def small(cache):
    return load_dataset("openclipart-speech", n=8, cache_dir=cache, limit=LIMIT, n_jobs=2)


@needs_tools
def test_views_groups_and_variants(small):
    assert small.view_names == ["image", "text", "audio"] and len(small) == 16
    assert small.meta["name"] == "openclipart-speech"
    groups = small.groups.reshape(8, 2)
    assert (groups[:, 0] == groups[:, 1]).all()  # an image's two clips: one group
    assert len(set(small["image"][::2])) == 8 and small["image"][::2] == small["image"][1::2]
    assert small["text"] == small.meta["spoken"] and small["text"][::2] == small["text"][1::2]
    for a, b in zip(small.meta["voices"][::2], small.meta["voices"][1::2]):
        assert a["timbre"] != b["timbre"]  # the same words in another voice
        assert {a["accent"], b["accent"]} <= set(speech.ACCENTS)
    for i in range(0, 16, 2):  # different voices give different sounds
        a, b = (sf.read(small["audio"][j])[0] for j in (i, i + 1))
        assert len(a) != len(b) or not np.allclose(a, b)
    assert all(len(t.split()) <= 8 for t in small["text"])
    assert len({t.lower() for t in small["text"]}) == 8  # distinct: one image per text


@needs_tools
def test_same_seed_same_bytes_and_cache_reuse(small, cache, tmp_path):
    again = load_dataset("openclipart-speech", n=8, cache_dir=cache, limit=LIMIT, n_jobs=2)
    assert again.meta["cache"]["made"] == 0  # every clip read from the cache
    assert again["audio"] == small["audio"] and again.meta["voices"] == small.meta["voices"]
    fresh = load_dataset("openclipart-speech", n=8, cache_dir=tmp_path, limit=LIMIT, n_jobs=1)
    assert fresh.meta["cache"]["made"] == 16
    for a, b in zip(small["audio"], fresh["audio"]):  # made anew, byte for byte the same
        assert Path(a).name == Path(b).name and Path(a).read_bytes() == Path(b).read_bytes()
    bigger = load_dataset("openclipart-speech", n=10, cache_dir=cache, limit=LIMIT)
    assert set(small["audio"]) <= set(bigger["audio"]) and bigger.meta["cache"]["made"] == 4
    other = load_dataset("openclipart-speech", n=8, seed=1, cache_dir=cache, limit=LIMIT)
    assert other.meta["voices"] != small.meta["voices"]
    captions = load_dataset("openclipart-speech", n=8, text="caption", cache_dir=cache,
                            limit=LIMIT)
    assert captions["text"] == captions.meta["captions"] and captions["audio"] == small["audio"]


@needs_tools
def test_a_clip_is_its_speech(small):
    """16 kHz mono, speech from the start to the end (silence trimmed), and longer for
    more words at the same speed."""
    for path, words in zip(small["audio"], small["text"]):
        wave, sr = sf.read(path)
        assert sr == 16000 and wave.ndim == 1
        frames = np.abs(wave[: len(wave) // 160 * 160]).reshape(-1, 160).max(axis=1)
        loud = frames > 0.01 * np.abs(wave).max()
        assert loud[:5].any() and loud[-5:].any()  # no long silence at either end
        assert loud.mean() > 0.5  # mostly speech
        seconds = len(wave) / sr
        assert 0.15 < seconds <= 4.0 and seconds > 0.12 * min(len(words.split()), 8)
    voice = {"accent": "en-us", "timbre": "m1", "speed": 160, "pitch": 50}
    one = speech.synthesize("bird", voice)
    five = speech.synthesize("a bird on a tree", voice)
    many = speech.synthesize(" ".join(["elephant"] * 40), voice, max_seconds=2.0)
    assert len(one) < len(five) and len(many) == 2 * 16000  # capped
    assert abs(many[-1]) < 1e-3  # faded out where it was cut


def test_spoken_text_and_bad_options():
    assert speech.spoken_text({"title": "Baby-Tux penguin_big"}, 8) == "Baby Tux penguin big"
    assert speech.spoken_text({"title": "Untitled", "keywords": ["cat", "dog"]}, 8) == "cat, dog"
    assert speech.spoken_text({"title": "one two three four"}, 2) == "one two"
    assert speech.voices_for("ab" * 32, 0, 3) == speech.voices_for("ab" * 32, 0, 3)
    for option, match in [({"variants": 0}, "variants=0"), ({"variants": 11}, "at most 10"),
                          ({"n": 0}, "n=0"), ({"text": "title"}, "text='title'"),
                          ({"max_seconds": 0.1}, "max_seconds=0.1")]:
        with pytest.raises(ValueError, match=match):
            load_dataset("openclipart-speech", **option)


def test_missing_espeak_names_the_debian_package(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install -y espeak-ng"):
        load_dataset("openclipart-speech", n=4)


# ------------------------------------------------------------------- log-mel encoder
def test_log_mel_matches_a_by_hand_stft():
    import librosa

    rng = np.random.default_rng(0)
    wave = (rng.normal(size=16000) * np.hanning(16000)).astype(np.float32)  # 1 s of noise
    enc = make_encoder("log-mel", mels=32, frames=60, hop_ms=20, win_ms=25)
    rows = enc.transform([wave])
    assert rows.shape == (1, 60 * 32) and rows.dtype == np.float32
    n_fft, win, hop = 512, 400, 320
    window = np.zeros(n_fft)
    start = (n_fft - win) // 2
    window[start:start + win] = np.hanning(win + 1)[:-1]  # periodic Hann, centred in n_fft
    count = 1 + (len(wave) - n_fft) // hop
    frames = np.stack([wave[t * hop: t * hop + n_fft] * window for t in range(count)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (t, bins)
    mel = power @ librosa.filters.mel(sr=16000, n_fft=n_fft, n_mels=32, fmin=50).T
    db = np.maximum(10 * np.log10(np.maximum(mel, 1e-20) / mel.max()), -80)
    got = rows.reshape(60, 32)
    np.testing.assert_allclose(got[:count], db, atol=1e-3)
    assert (got[count:] == -80).all()  # padded with frames at the floor


def test_log_mel_puts_a_tone_in_its_band_and_crops():
    import librosa

    sr, f0 = 16000, 1000.0
    t = np.arange(3 * sr) / sr
    tone = (0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)
    rows = make_encoder("log-mel", mels=64, frames=100).transform([tone]).reshape(100, 64)
    centres = librosa.mel_frequencies(64 + 2, fmin=50, fmax=sr / 2)[1:-1]
    band = int(np.argmin(np.abs(centres - f0)))
    assert (rows.argmax(axis=1) == band).all()  # every frame kept is the tone (3 s cropped)
    assert rows.max() == 0 and rows.min() >= -80
    silent = make_encoder("log-mel", frames=10).transform([np.zeros(8000, np.float32)])
    assert (silent == -80).all()


def test_log_mel_reads_files_and_names_bad_options(tmp_path):
    wave = np.sin(np.linspace(0, 2000, 22050)).astype(np.float32)
    sf.write(tmp_path / "a.wav", wave, 22050)
    rows = make_encoder("log-mel", frames=40).transform([str(tmp_path / "a.wav")])
    assert rows.shape == (1, 40 * 64) and np.isfinite(rows).all()
    with pytest.raises(ValueError, match="frames=0"):
        make_encoder("log-mel", frames=0).transform([wave])
    with pytest.raises(ValueError, match="fmax=9000"):
        make_encoder("log-mel", fmax=9000).transform([wave])
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        make_encoder("log-mel").transform([str(tmp_path / "nope.wav")])


@needs_tools
@pytest.mark.slow
def test_fit_from_the_cli_on_audio_and_text_uses_the_measured_defaults(tmp_path):
    """``--views audio,text`` on openclipart-speech: the audio encoder and tower measured
    best (pipeline/chains.py), not the image–text defaults of the dataset's first views."""
    import json
    import subprocess
    import sys

    from jointspace.pipeline import Pipeline
    from jointspace.pipeline.chains import AUDIO_TOWER, DEFAULT_ENCODERS

    exe = str(Path(sys.executable).with_name("jointspace"))
    proc = subprocess.run(
        [exe, "fit", "--dataset", "openclipart-speech:n=24", "--views", "audio,text",
         "--epochs", "2", "--out", str(tmp_path / "p"), "--json"],
        capture_output=True, text=True, timeout=600)  # the user's cache: renders, 48 clips
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["views"] == ["audio", "text"] and summary["model"] == "dual-encoder"
    assert summary["encoders"]["audio"] == DEFAULT_ENCODERS["audio"]
    assert Pipeline.load(tmp_path / "p").model.tower == [AUDIO_TOWER, "linear"]
    assert 0 <= summary["test"]["retrieval"]["audio→text"]["R@10"] <= 100

"""Image and audio feature encoders against their references called directly: HOG against
``skimage.feature.hog``, colour histograms against ``np.histogram``, MFCC statistics against
``librosa.feature.mfcc`` (deltas against scipy's Savitzky–Golay derivative)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.signal import savgol_filter
from skimage import data as skdata
from skimage.feature import hog

from jointspace.encoders.audio import MfccEncoder
from jointspace.encoders.image import ColorHistEncoder, HogEncoder


def _photos(h: int, w: int) -> list[np.ndarray]:
    """Real photos (skimage samples) cropped to exactly (h, w, 3) uint8: no resizing."""
    return [skdata.astronaut()[40 : 40 + h, 100 : 100 + w], skdata.coffee()[:h, 50 : 50 + w],
            skdata.chelsea()[10 : 10 + h, 20 : 20 + w]]


def _pil_luma(rgb: np.ndarray) -> np.ndarray:
    """Pillow's documented RGB → L conversion, L = R·299/1000 + G·587/1000 + B·114/1000, in
    its fixed-point form (weights ·65536, rounded half up)."""
    r, g, b = (rgb[..., c].astype(np.int64) for c in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


# ------------------------------------------------------------------------------------ HOG
HOG_CASES = [
    {},  # the defaults: 64 px, 9 bins, 8 px cells, 2 × 2 blocks, L2-Hys
    {"size": 48, "orientations": 6, "pixels_per_cell": 6, "cells_per_block": 3, "block_norm": "L1"},
    {"size": (32, 56), "orientations": 12, "pixels_per_cell": 4, "cells_per_block": 1,
     "block_norm": "L2"},
    {"size": 40, "orientations": 8, "pixels_per_cell": 10, "cells_per_block": 2,
     "block_norm": "L1-sqrt"},
]


@pytest.mark.parametrize("params", HOG_CASES, ids=lambda p: ",".join(map(str, p.values())))
def test_hog_of_grayscale_images_equals_skimage(params):
    """Grayscale uint8 images already of the encoder's size: the features are skimage's HOG of
    the pixels / 255 with the same parameters. The reference gets float32 pixels, as the
    encoder computes in float32: with 12 bins a gradient at exactly 45° (dx = dy on integer
    pixels) lies on a bin edge, and float64 rounds it into the other bin."""
    encoder = HogEncoder(**params)
    size = params.get("size", 64)
    h, w = (size, size) if isinstance(size, int) else size
    grays = [skdata.camera()[100 : 100 + h, 200 : 200 + w], skdata.moon()[:h, :w],
             skdata.coins()[50 : 50 + h, 80 : 80 + w]]
    got = encoder.transform(grays)
    ppc, cpb = encoder.pixels_per_cell, encoder.cells_per_block
    for row, gray in zip(got, grays):
        reference = hog(
            gray.astype(np.float32) / 255.0,
            orientations=encoder.orientations,
            pixels_per_cell=(ppc, ppc),
            cells_per_block=(cpb, cpb),
            block_norm=encoder.block_norm,
            feature_vector=True,
        )
        blocks = (h // ppc - cpb + 1) * (w // ppc - cpb + 1)
        assert reference.shape == (blocks * cpb * cpb * encoder.orientations,)
        assert row.shape == reference.shape and row.dtype == np.float32
        np.testing.assert_allclose(row, reference, rtol=0, atol=1e-7)


def test_hog_of_colour_images_is_hog_of_their_luma():
    """RGB photos: HOG of Pillow's luma (written out above), as the docstring's 'grayscale'."""
    photos = _photos(64, 64)
    got = HogEncoder().transform(photos)
    for row, rgb in zip(got, photos):
        luma = _pil_luma(rgb).astype(np.float32) / 255.0
        reference = hog(luma, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                        block_norm="L2-Hys")
        np.testing.assert_allclose(row, reference, rtol=0, atol=1e-7)


def test_hog_of_a_file_equals_hog_of_its_pixels(tmp_path):
    rgb = _photos(64, 64)[0]
    Image.fromarray(rgb).save(tmp_path / "a.png")
    np.testing.assert_array_equal(HogEncoder().transform([str(tmp_path / "a.png")]),
                                  HogEncoder().transform([rgb]))


# ----------------------------------------------------------------------- colour histograms
def _histogram_reference(channels: np.ndarray, bins: int) -> np.ndarray:
    """(pixels, 3) values 0–255 → concatenated per-channel np.histogram over [0, 256),
    each divided by the number of pixels."""
    return np.concatenate([
        np.histogram(channels[:, c], bins=bins, range=(0, 256))[0] / len(channels)
        for c in range(3)
    ])


@pytest.mark.parametrize("bins", [1, 3, 7, 16, 100, 256])
def test_rgb_colour_histogram_equals_np_histogram(bins):
    photos = _photos(90, 70)
    got = ColorHistEncoder(bins=bins).transform(photos)
    assert got.shape == (3, 3 * bins)
    for row, rgb in zip(got, photos):
        reference = _histogram_reference(rgb.reshape(-1, 3), bins)
        np.testing.assert_allclose(row, reference, rtol=0, atol=1e-7)
        np.testing.assert_allclose(row.reshape(3, bins).sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("bins", [5, 32])
def test_hsv_colour_histogram_equals_np_histogram_of_pillow_hsv(bins):
    photos = _photos(60, 80)
    got = ColorHistEncoder(bins=bins, space="hsv").transform(photos)
    for row, rgb in zip(got, photos):
        hsv = np.asarray(Image.fromarray(rgb).convert("HSV")).reshape(-1, 3)
        np.testing.assert_allclose(row, _histogram_reference(hsv, bins), rtol=0, atol=1e-7)


def test_colour_histogram_counts_every_pixel_value_in_its_bin():
    """All 256 values in each channel once: np.histogram puts value v in bin ⌊v·bins/256⌋."""
    ramp = np.stack([np.arange(256), 255 - np.arange(256), (np.arange(256) * 7) % 256], axis=1)
    image = ramp.reshape(16, 16, 3).astype(np.uint8)
    for bins in (2, 3, 5, 6, 9, 255):
        got = ColorHistEncoder(bins=bins).transform([image])[0]
        np.testing.assert_allclose(got, _histogram_reference(ramp, bins), rtol=0, atol=1e-7)


# ----------------------------------------------------------------------------------- MFCC
def _tone_clips(sr: int, seconds: float = 0.6) -> list[np.ndarray]:
    """Deterministic, non-stationary clips: a chirp, two tones with an envelope, noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    chirp = 0.5 * np.sin(2 * np.pi * (200 * t + 900 * t**2))
    tones = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1250 * t)
    tones = tones * np.exp(-3 * t)
    noise = 0.1 * rng.normal(size=len(t)) * np.linspace(0, 1, len(t))
    return [c.astype(np.float32) for c in (chirp, tones, noise)]


def _mfcc_reference(wave, sr, n_mfcc, n_mels, win, hop, n_fft, deltas):
    import librosa

    mfcc = librosa.feature.mfcc(y=wave, sr=sr, n_mfcc=n_mfcc, n_mels=n_mels, n_fft=n_fft,
                                win_length=win, hop_length=hop, center=False)
    parts = [mfcc.mean(axis=1), mfcc.std(axis=1)]
    if deltas:  # first derivative of a local linear fit over 9 frames, edges fitted too
        delta = savgol_filter(mfcc, 9, polyorder=1, deriv=1, axis=-1, mode="interp")
        parts += [delta.mean(axis=1), delta.std(axis=1)]
    return np.concatenate(parts), mfcc.shape[1]


@pytest.mark.parametrize(
    ("params", "win", "hop", "n_fft"),
    [
        ({}, 400, 160, 512),  # defaults: 16 kHz, 25 ms windows every 10 ms → n_fft 512
        ({"sr": 8000, "n_mfcc": 13, "n_mels": 26, "win_ms": 32.0, "hop_ms": 16.0}, 256, 128, 256),
        ({"sr": 22050, "n_mfcc": 30, "n_mels": 64, "win_ms": 40.0, "hop_ms": 12.5,
          "deltas": False}, 882, 276, 1024),
    ],
)
def test_mfcc_statistics_equal_librosa(params, win, hop, n_fft):
    encoder = MfccEncoder(**params)
    clips = _tone_clips(encoder.sr)
    got = encoder.transform(clips)
    width = (4 if encoder.deltas else 2) * encoder.n_mfcc
    assert got.shape == (3, width) and got.dtype == np.float32
    for row, clip in zip(got, clips):
        reference, frames = _mfcc_reference(clip, encoder.sr, encoder.n_mfcc, encoder.n_mels,
                                            win, hop, n_fft, encoder.deltas)
        assert frames == 1 + (len(clip) - n_fft) // hop  # center=False: whole frames only
        np.testing.assert_allclose(row, reference, rtol=1e-5, atol=1e-4)


def test_mfcc_of_a_file_at_another_rate_is_mfcc_of_the_resampled_wave(tmp_path):
    import librosa
    import soundfile as sf

    clip = _tone_clips(22050)[0]
    sf.write(tmp_path / "a.wav", clip, 22050, subtype="FLOAT")
    got = MfccEncoder(n_mfcc=13).transform([str(tmp_path / "a.wav")])[0]
    wave = librosa.resample(clip, orig_sr=22050, target_sr=16000)
    reference, _ = _mfcc_reference(wave, 16000, 13, 40, 400, 160, 512, True)
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-4)


def test_mfcc_with_trimming_equals_librosa_on_the_trimmed_wave():
    import librosa

    tone = _tone_clips(16000)[0]
    padded = np.concatenate([np.zeros(4000, np.float32), tone, np.zeros(6000, np.float32)])
    got = MfccEncoder(trim_db=30.0).transform([padded])[0]
    trimmed, _ = librosa.effects.trim(padded, top_db=30.0)
    assert len(trimmed) < len(padded) - 5000  # most of the 10,000 silent samples go
    reference, _ = _mfcc_reference(trimmed, 16000, 20, 40, 400, 160, 512, True)
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-4)
    untrimmed = MfccEncoder().transform([padded])[0]
    assert not np.allclose(untrimmed, got, atol=1e-2)


def test_mfcc_of_a_clip_shorter_than_a_window_is_mfcc_of_one_zero_padded_frame():
    clip = _tone_clips(16000)[1][:300]  # 300 samples < n_fft 512
    got = MfccEncoder(deltas=True).transform([clip])[0]
    reference, frames = _mfcc_reference(np.pad(clip, (0, 212)), 16000, 20, 40, 400, 160, 512,
                                        False)
    assert frames == 1
    np.testing.assert_allclose(got[:40], reference, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(got[40:], 0.0)  # one frame: no deltas, zero statistics

"""Audio encoder: MFCC summary statistics of each clip (librosa)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from jointspace.data.audio_files import audio_length_problem
from jointspace.encoders.base import Encoder, check_media, register

MAX_SAMPLE_RATE = 768_000  # the highest rate audio hardware records; a header above it is broken


def read_audio(item: Any, sr: int, encoder: str, index: int) -> np.ndarray:
    """One clip as a float32 mono waveform at ``sr`` Hz.

    A path is read with soundfile (WAV, FLAC, OGG, …; librosa's fallback for the rest),
    mixed down to mono and resampled to ``sr``. An array is taken as a mono waveform at
    ``sr`` already.

    Raises:
        FileNotFoundError: a path that does not exist (names it).
        ValueError: an unreadable file, one longer than the limits of
            :mod:`jointspace.data.audio_files` (checked from its header), or an empty /
            non-finite / multi-dimensional clip.
    """
    import librosa
    import soundfile as sf

    if isinstance(item, str | os.PathLike):
        path = os.fspath(item)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"audio encoder {encoder!r}: audio file {path!r} (item {index}) does not exist"
            )
        where = f"audio file {path!r} (item {index})"
        try:
            info = sf.info(path)
            too_long = audio_length_problem(info.frames, info.samplerate, info.channels)
            if too_long:
                raise ValueError(f"audio encoder {encoder!r}: {where} is too long: {too_long}")
            wave, native_sr = sf.read(path, dtype="float32", always_2d=True)
            wave = wave.mean(axis=1)
        except sf.LibsndfileError:
            try:
                wave, native_sr = librosa.load(path, sr=None, mono=True)
            except Exception as exc:  # noqa: BLE001 - re-raised with the file named
                raise ValueError(
                    f"audio encoder {encoder!r} could not read audio file {path!r} "
                    f"(item {index}): {exc}"
                ) from exc
        if not 1 <= native_sr <= MAX_SAMPLE_RATE:
            raise ValueError(f"audio encoder {encoder!r}: audio file {path!r} (item {index}) "
                             f"says its sample rate is {native_sr} Hz; expected 1 to "
                             f"{MAX_SAMPLE_RATE:,} Hz")
        too_long = audio_length_problem(len(wave), native_sr, 1)
        if too_long:  # a file only librosa reads: checked once decoded, before resampling
            raise ValueError(f"audio encoder {encoder!r}: {where} is too long: {too_long}")
        if not np.isfinite(wave).all():  # a float file holding NaN or inf: before resampling
            raise ValueError(f"audio encoder {encoder!r}: {where} has NaN or inf samples")
        if native_sr != sr:
            wave = librosa.resample(wave, orig_sr=native_sr, target_sr=sr)
    else:
        wave = np.asarray(item, dtype=np.float32)
        where = f"item {index}"
        if wave.ndim != 1:
            raise ValueError(
                f"audio encoder {encoder!r}: {where} has shape {wave.shape}; expected a 1-D "
                "mono waveform"
            )
    if wave.size == 0:
        raise ValueError(f"audio encoder {encoder!r}: {where} is empty")
    if not np.isfinite(wave).all():
        raise ValueError(f"audio encoder {encoder!r}: {where} has NaN or inf samples")
    return np.ascontiguousarray(wave, dtype=np.float32)


@register("mfcc")
class MfccEncoder(Encoder):
    """Mel-frequency cepstral coefficients, summarized per clip as a fixed-length vector.

    Each clip (a file path, or a 1-D waveform at ``sr``) is loaded at ``sr`` Hz mono;
    librosa computes ``n_mfcc`` coefficients per frame (25 ms windows every 10 ms at 16 kHz
    by default) and, with ``deltas``, their first differences; the clip becomes the mean and
    the standard deviation over frames of each.

    Args:
        sr: sample rate (Hz) the clips are resampled to.
        n_mfcc: coefficients per frame.
        n_mels: mel bands.
        win_ms, hop_ms: analysis window and hop, in milliseconds.
        deltas: append the statistics of the delta coefficients.
        trim_db: trim leading/trailing silence quieter than this many dB below the peak
            (None: no trimming).

    ``transform`` returns (n, 2·n_mfcc) float32, or (n, 4·n_mfcc) with deltas
    (80 for the defaults): [mean(mfcc), std(mfcc), mean(delta), std(delta)].
    """

    def __init__(
        self,
        sr: int = 16000,
        n_mfcc: int = 20,
        n_mels: int = 40,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        deltas: bool = True,
        trim_db: float | None = None,
    ) -> None:
        self.sr = sr
        self.n_mfcc = n_mfcc
        self.n_mels = n_mels
        self.win_ms = win_ms
        self.hop_ms = hop_ms
        self.deltas = deltas
        self.trim_db = trim_db

    def _features(self, wave: np.ndarray) -> np.ndarray:
        import librosa

        if self.trim_db is not None and np.any(wave):
            wave, _ = librosa.effects.trim(wave, top_db=self.trim_db)
        win = max(int(round(self.sr * self.win_ms / 1000)), 16)
        hop = max(int(round(self.sr * self.hop_ms / 1000)), 1)
        n_fft = 1 << (win - 1).bit_length()
        if len(wave) < n_fft:  # shorter than one window: zero-pad to one frame
            wave = np.pad(wave, (0, n_fft - len(wave)))
        mfcc = librosa.feature.mfcc(
            y=wave,
            sr=self.sr,
            n_mfcc=self.n_mfcc,
            n_fft=n_fft,
            win_length=win,
            hop_length=hop,
            n_mels=self.n_mels,
            center=False,
        )
        parts = [mfcc.mean(axis=1), mfcc.std(axis=1)]
        if self.deltas:
            frames = mfcc.shape[1]
            if frames >= 3:
                width = min(9, frames if frames % 2 else frames - 1)
                delta = librosa.feature.delta(mfcc, width=width, mode="interp")
            else:
                delta = np.zeros_like(mfcc)
            parts += [delta.mean(axis=1), delta.std(axis=1)]
        return np.concatenate(parts)

    def transform(self, X: Any) -> np.ndarray:
        """(n, 4·n_mfcc) float32 (2·n_mfcc without deltas) MFCC statistics of n clips."""
        if int(self.sr) < 1000:
            raise ValueError(f"audio encoder 'mfcc' sr is {self.sr}; expected ≥ 1000 Hz")
        items = check_media(X, self.name, (2,), "audio")
        if not items:
            raise ValueError("audio encoder 'mfcc' got 0 clips; expected at least 1")
        rows = [
            self._features(read_audio(item, int(self.sr), self.name, i))
            for i, item in enumerate(items)
        ]
        return np.stack(rows).astype(np.float32, copy=False)


@register("log-mel")
class LogMelEncoder(Encoder):
    """Log-mel spectrogram of each clip on a fixed grid of frames: (n, frames · mels).

    Each clip (a file path, or a 1-D waveform at ``sr``) is loaded at ``sr`` Hz mono; its
    power spectrogram (Hann windows of ``win_ms`` every ``hop_ms``, no centring) is mapped to
    ``mels`` mel bands (librosa's Slaney filters from ``fmin`` to ``fmax``) and to dB relative
    to the clip's loudest bin, floored at ``-top_db``: every value lies in [−top_db, 0], so
    clips of any level compare. A clip longer than ``frames`` frames keeps its first
    ``frames``; a shorter one is padded with frames at the floor (−top_db in every band),
    which the ``audio-cnn`` tower recognizes and masks (so does a silent stretch).

    Args:
        sr: sample rate (Hz) the clips are resampled to.
        mels: mel bands M.
        frames: T, frames per clip (T · hop_ms of audio: 150 × 20 ms = 3 s).
        win_ms, hop_ms: analysis window and hop, in milliseconds.
        fmin, fmax: the mel filters' range in Hz (fmax None: sr / 2).
        top_db: the floor, in dB below the clip's peak.

    Rows are frame-major: frame t's bands are columns t·M … (t+1)·M − 1, as
    :class:`~jointspace.models.deep.audio.AudioCNNTower` reads them.
    """

    def __init__(self, sr: int = 16000, mels: int = 64, frames: int = 150,
                 win_ms: float = 25.0, hop_ms: float = 20.0, fmin: float = 50.0,
                 fmax: float | None = None, top_db: float = 80.0) -> None:
        self.sr = sr
        self.mels = mels
        self.frames = frames
        self.win_ms = win_ms
        self.hop_ms = hop_ms
        self.fmin = fmin
        self.fmax = fmax
        self.top_db = top_db

    def _check(self) -> None:
        for name in ("mels", "frames"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"audio encoder 'log-mel' {name}={value!r}; expected an "
                                 "integer ≥ 1")
        if int(self.sr) < 1000:
            raise ValueError(f"audio encoder 'log-mel' sr is {self.sr}; expected ≥ 1000 Hz")
        if not self.top_db > 0:
            raise ValueError(f"audio encoder 'log-mel' top_db={self.top_db!r}; expected > 0")
        fmax = self.sr / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < fmax <= self.sr / 2:
            raise ValueError(f"audio encoder 'log-mel' fmin={self.fmin}, fmax={self.fmax}; "
                             f"expected 0 ≤ fmin < fmax ≤ sr / 2 = {self.sr / 2:g}")

    def _features(self, wave: np.ndarray) -> np.ndarray:
        """(samples,) → (frames, mels) dB in [−top_db, 0]."""
        import librosa

        win = max(int(round(self.sr * self.win_ms / 1000)), 16)
        hop = max(int(round(self.sr * self.hop_ms / 1000)), 1)
        n_fft = 1 << (win - 1).bit_length()
        wave = wave[: n_fft + hop * (self.frames - 1)]  # no more than the frames kept
        if len(wave) < n_fft:
            wave = np.pad(wave, (0, n_fft - len(wave)))
        power = librosa.feature.melspectrogram(
            y=wave, sr=self.sr, n_fft=n_fft, hop_length=hop, win_length=win, center=False,
            n_mels=self.mels, fmin=self.fmin, fmax=self.fmax, power=2.0)  # (mels, t)
        floor = -float(self.top_db)
        peak = float(power.max())
        if peak <= 1e-20:  # a silent clip: every frame at the floor
            db = np.full(power.shape, floor)
        else:
            db = np.maximum(10 * np.log10(np.maximum(power, 1e-20) / peak), floor)
        out = np.full((self.frames, self.mels), floor, dtype=np.float32)
        t = min(db.shape[1], self.frames)
        out[:t] = db.T[:t]
        return out

    def transform(self, X: Any) -> np.ndarray:
        """(n, frames · mels) float32 in [−top_db, 0], frame-major."""
        self._check()
        items = check_media(X, self.name, (2,), "audio")
        if not items:
            raise ValueError("audio encoder 'log-mel' got 0 clips; expected at least 1")
        rows = [self._features(read_audio(item, int(self.sr), self.name, i)).ravel()
                for i, item in enumerate(items)]
        return np.stack(rows).astype(np.float32, copy=False)

"""openclipart-speech: OpenClipArt images with their titles spoken by espeak-ng, in several
voices per image: image, text and audio views of one item.

Each chosen image's title (cleaned, hyphens read as spaces, cut to ``max_words`` words; its
first keywords when it has no title) is synthesized ``variants`` times by Debian's
``espeak-ng``, each time with another voice (an English accent and a timbre drawn without
replacement), speed and pitch drawn from a generator seeded by ``seed`` and the image's
content hash, so the same words come in different voices and an image keeps its voices
whatever ``n`` is. A clip is resampled to 16 kHz mono, its leading and trailing silence cut,
capped at ``max_seconds``, and written once as a 16-bit WAV named by a hash of everything
that made it (espeak-ng's version included), under ``~/.cache/jointspace/openclipart-speech``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.atomic import atomic_write
from jointspace.data.multiview import MultiView

DESCRIPTION = ("OpenClipArt renders with their titles spoken by espeak-ng in several voices "
               "(16 kHz WAV); n=2000 images × 2 voices by default.")
CITATION = ("Open Clip Art Library 0.18, public domain, via Debian openclipart-svg; speech "
            "synthesized with eSpeak NG (Debian espeak-ng).")
ESPEAK = "espeak-ng"
#: English accents (espeak-ng languages) and timbres (voice variants) the voices combine
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp")
TIMBRES = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "f5")
SPEEDS = (130, 190)  # words per minute, inclusive range
PITCHES = (25, 75)  # espeak-ng's 0–99 scale, inclusive range
SAMPLE_RATE = 16000
_FORMAT = 1  # bump when the way a clip is made changes: every clip is made again
_TRIM_DB = 40.0  # silence: quieter than this below the clip's peak
_MARGIN = 0.03  # seconds of silence kept around the speech
_FADE = 0.02  # seconds of fade-out where a clip is cut at max_seconds


def espeak_version() -> str:
    """espeak-ng's version line ("eSpeak NG text-to-speech: 1.51 …").

    Raises:
        FileNotFoundError: espeak-ng is not installed (names the Debian package).
    """
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise FileNotFoundError(
            "openclipart-speech needs the espeak-ng program; install Debian's espeak-ng "
            "(`apt-get install -y espeak-ng`)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split()[:5])


def spoken_text(meta: dict[str, Any], max_words: int) -> str:
    """The words spoken for an image: its cleaned title (else its keywords), hyphens and
    underscores read as spaces, cut to ``max_words`` words; "" if it has no text."""
    from jointspace.data.openclipart import _clean

    text = _clean(meta.get("title")) or ", ".join(
        k for k in map(_clean, meta.get("keywords", [])) if k)
    words = text.replace("_", " ").replace("-", " ").split()
    return " ".join(words[:max_words])


def voices_for(key: str, seed: int, variants: int) -> list[dict[str, Any]]:
    """``variants`` voices for the image whose content hash is ``key`` (hex): distinct
    accents (while there are enough) and distinct timbres, speed and pitch drawn uniformly;
    the same for the same (key, seed)."""
    rng = np.random.default_rng([seed, int(key[:15], 16)])
    accents = rng.choice(len(ACCENTS), variants, replace=variants > len(ACCENTS))
    timbres = rng.choice(len(TIMBRES), variants, replace=False)
    return [{"accent": ACCENTS[a], "timbre": TIMBRES[t],
             "speed": int(rng.integers(SPEEDS[0], SPEEDS[1] + 1)),
             "pitch": int(rng.integers(PITCHES[0], PITCHES[1] + 1))}
            for a, t in zip(accents, timbres)]


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """espeak-ng's streamed WAV (16-bit PCM mono, chunk sizes unset) → (int16 samples, Hz)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE" or data[12:16] != b"fmt ":
        raise RuntimeError(f"espeak-ng wrote {len(data)} bytes that are not a WAV file")
    fmt, channels, rate = (int.from_bytes(data[20:22], "little"),
                           int.from_bytes(data[22:24], "little"),
                           int.from_bytes(data[24:28], "little"))
    bits = int.from_bytes(data[34:36], "little")
    start = data.find(b"data", 36)
    if (fmt, channels, bits) != (1, 1, 16) or start < 0 or rate < 1000:
        raise RuntimeError(f"espeak-ng wrote an unexpected WAV (format {fmt}, {channels} "
                           f"channels, {bits} bits, {rate} Hz); expected 16-bit PCM mono")
    body = data[start + 8:]
    return np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2"), rate


def finish_clip(wave: np.ndarray, rate: int, max_seconds: float,
                sr: int = SAMPLE_RATE) -> np.ndarray:
    """(samples,) int16 at ``rate`` Hz → (samples',) float32 at ``sr``: resampled
    (polyphase), silence before and after the speech cut (a margin of 30 ms kept), capped at
    ``max_seconds`` with a 20 ms fade-out. A silent clip stays one margin of zeros."""
    from math import gcd

    from scipy.signal import resample_poly

    x = wave.astype(np.float64) / 32768.0
    if rate != sr:
        g = gcd(sr, rate)
        x = resample_poly(x, sr // g, rate // g)
    peak = np.abs(x).max(initial=0.0)
    loud = np.flatnonzero(np.abs(x) > peak * 10 ** (-_TRIM_DB / 20)) if peak > 0 else []
    margin = int(_MARGIN * sr)
    if len(loud) == 0:
        return np.zeros(margin, dtype=np.float32)
    x = x[max(loud[0] - margin, 0): loud[-1] + margin + 1]
    cap = int(max_seconds * sr)
    if len(x) > cap:
        x = x[:cap].copy()
        fade = min(int(_FADE * sr), cap)
        x[cap - fade:] *= np.linspace(1.0, 0.0, fade)
    return x.astype(np.float32)


def synthesize(text: str, voice: dict[str, Any], max_seconds: float = 4.0,
               sr: int = SAMPLE_RATE) -> np.ndarray:
    """``text`` spoken by espeak-ng in ``voice`` (accent, timbre, speed, pitch) as a float32
    waveform at ``sr`` Hz, trimmed and capped (:func:`finish_clip`). The text goes in on
    standard input, never as an argument, so no title is read as an option.

    Raises:
        FileNotFoundError: espeak-ng is not installed.
        RuntimeError: espeak-ng failed (its message and the text named).
    """
    exe = shutil.which(ESPEAK)
    if exe is None:
        espeak_version()  # raises the error naming the package
    cmd = [exe, "-v", f"{voice['accent']}+{voice['timbre']}", "-s", str(voice["speed"]),
           "-p", str(voice["pitch"]), "--stdout"]
    proc = subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=60)
    if proc.returncode:
        raise RuntimeError(f"espeak-ng failed on {text!r} ({' '.join(cmd[1:])}): "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    wave, rate = _parse_wav(proc.stdout)
    return finish_clip(wave, rate, max_seconds, sr)


def _wav_bytes(wave: np.ndarray, sr: int) -> bytes:
    import soundfile as sf

    out = BytesIO()
    sf.write(out, wave, sr, format="WAV", subtype="PCM_16")
    return out.getvalue()


def _clip_name(version: str, text: str, voice: dict[str, Any], max_seconds: float) -> str:
    record = json.dumps([_FORMAT, version, SAMPLE_RATE, text, voice, float(max_seconds)],
                        sort_keys=True)
    return hashlib.sha256(record.encode()).hexdigest()[:24] + ".wav"


def load_openclipart_speech(
    n: int | None = 2000,
    variants: int = 2,
    seed: int = 0,
    size: int = 64,
    max_words: int = 8,
    max_seconds: float = 4.0,
    text: str = "spoken",
    distinct: bool = True,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    limit: int | None = None,
) -> MultiView:
    """OpenClipArt images, captions and spoken titles as a MultiView of ``n · variants`` rows.

    Args:
        n: images, drawn without replacement by ``seed`` (a larger n keeps the images of a
            smaller one); None: every usable image (2,750 with ``distinct``, else 8,000).
        variants: spoken clips per image, each in another voice (1 to 10).
        seed: the images and the voices; the same seed gives the same bytes.
        size: side in pixels of the image renders (see ``load_openclipart``).
        max_words: words of the title spoken (titles have 3 words at the median).
        max_seconds: the longest clip; a longer one is cut (with a fade-out).
        text: the text view: "spoken" (the words spoken, as written) or "caption" (the
            image's full OpenClipArt caption: title, description, keywords).
        distinct: one image per spoken text (the first in the seed's order): OpenClipArt's
            titles repeat (a set of 1,375 images is titled "gramastar"), so without it a
            clip's words would match hundreds of other clips.
        cache_dir: cache root (clips go to ``<cache_dir>/openclipart-speech/``, renders to
            ``<cache_dir>/openclipart/``); default env ``JOINTSPACE_CACHE`` or
            ``~/.cache/jointspace``.
        n_jobs: espeak-ng processes run at once; default ``os.cpu_count()``.
        limit: passed to ``load_openclipart``: only the first SVGs (for quick tests).

    Returns:
        views ``image`` (PNG paths), ``text`` and ``audio`` (WAV paths, 16 kHz mono), rows
        image-major (the variants of image j are rows j·variants …); ``groups``: the
        image (byte-identical SVGs one group), so an image's clips share a group;
        ``labels``: category codes into ``meta["label_names"]``; ``ids`` 0 … n·variants − 1;
        ``meta``: ``voices`` and ``spoken`` (per row, indexed by ids), ``captions`` (per
        row), ``openclipart_ids`` (per row), ``source`` (the clips folder), ``espeak``,
        ``cache`` (clips made now).

    Raises:
        FileNotFoundError: espeak-ng or OpenClipArt is not installed (names the package).
        ValueError: a bad option (named), or ``n`` above the usable images.
    """
    for name, value, low in (("variants", variants, 1), ("max_words", max_words, 1),
                             ("size", size, 1)):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"openclipart-speech {name}={value!r}; expected an int ≥ {low}")
    if variants > len(TIMBRES):
        raise ValueError(f"openclipart-speech variants={variants}; at most {len(TIMBRES)} "
                         "(one timbre each)")
    if n is not None and (not isinstance(n, int | np.integer) or n < 1):
        raise ValueError(f"openclipart-speech n={n!r}; expected None or an int ≥ 1")
    if not isinstance(max_seconds, int | float) or not 0.5 <= max_seconds <= 60:
        raise ValueError(f"openclipart-speech max_seconds={max_seconds!r}; expected 0.5 to 60")
    if text not in ("spoken", "caption"):
        raise ValueError(f"openclipart-speech text={text!r}; expected 'spoken' or 'caption'")
    jobs = (os.cpu_count() or 1) if n_jobs is None else int(n_jobs)
    if jobs < 1:
        raise ValueError(f"openclipart-speech n_jobs={n_jobs}; expected at least 1")
    version = espeak_version()  # before the renders: a missing program is named at once
    from jointspace.data.openclipart import load_openclipart

    base = Path(cache_dir or os.environ.get("JOINTSPACE_CACHE")
                or Path.home() / ".cache" / "jointspace").expanduser()
    images = load_openclipart(size=size, cache_dir=base, n_jobs=jobs, limit=limit)
    keys = [Path(p).name.rsplit("_", 1)[0] for p in images["image"]]
    metas = {k: json.loads((base / "openclipart" / f"{k}.json").read_text()) for k in set(keys)}
    spoken_all = [spoken_text(metas[k], max_words) for k in keys]
    usable = np.flatnonzero([bool(s) for s in spoken_all])
    order = usable[np.random.default_rng(seed).permutation(len(usable))]
    if distinct:  # the first image (in the seed's order) of each spoken text, as the
        texts = [" ".join(spoken_all[i].lower().split()) for i in order]  # caption protocol
        _, first = np.unique(texts, return_index=True)
        order = order[np.sort(first)]
    if n is not None and n > len(order):
        raise ValueError(f"openclipart-speech n={n}; only {len(order)} images have "
                         f"{'distinct ' if distinct else ''}words to speak")
    chosen = np.sort(order[:n])

    folder = base / "openclipart-speech"
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[int, dict[str, Any], str]] = []
    for i in chosen:
        for voice in voices_for(keys[i], seed, variants):
            rows.append((int(i), voice, _clip_name(version, spoken_all[i], voice, max_seconds)))
    todo = {name: (spoken_all[i], voice) for i, voice, name in rows
            if not (folder / name).is_file()}

    def make(name: str) -> None:
        words, voice = todo[name]
        wave = synthesize(words, voice, max_seconds)
        data = _wav_bytes(wave, SAMPLE_RATE)
        atomic_write(folder / name, lambda fh: fh.write(data))

    if todo:
        with ThreadPoolExecutor(jobs) as pool:  # each thread waits on an espeak-ng process
            list(pool.map(make, sorted(todo)))
    picks = np.array([i for i, _, _ in rows])
    _, groups = np.unique(images.groups[picks], return_inverse=True)
    captions = [images["text"][i] for i in picks]
    spoken = [spoken_all[i] for i in picks]
    return MultiView(
        {"image": [images["image"][i] for i in picks],
         "text": spoken if text == "spoken" else captions,
         "audio": [str(folder / name) for _, _, name in rows]},
        labels=images.labels[picks],
        groups=groups.astype(np.int64),
        meta={"label_names": images.meta["label_names"], "size": int(size),
              "voices": [voice for _, voice, _ in rows], "spoken": spoken,
              "captions": captions, "openclipart_ids": images.ids[picks], "espeak": version,
              "variants": int(variants), "seed": int(seed), "source": str(folder),
              "cache": {"dir": str(folder), "made": len(todo)}},
    )

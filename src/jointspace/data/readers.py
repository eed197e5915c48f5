"""Readers for your own folders: images, video or audio with a captions file. Every file is
checked and broken rows are skipped, reported in ``meta["skipped"]`` and by a warning. (Numeric
tables and arrays: :mod:`jointspace.data.tables`.)
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.data.caption_files import join_text, read_records, skip_row
from jointspace.data.multiview import MultiView

PathLike = str | os.PathLike
MISSING_TEXT = ("nan", "none", "null", "n/a")  # captions that are a missing value, not words
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif")


def media_kind(file: PathLike) -> str:
    """The view a media file belongs to, by its extension: "video" (see
    :data:`~jointspace.data.video_files.VIDEO_SUFFIXES`), "audio", else "image"."""
    from jointspace.data.video_files import VIDEO_SUFFIXES

    suffix = Path(file).suffix.lower()
    return "video" if suffix in VIDEO_SUFFIXES else "audio" if suffix in AUDIO_SUFFIXES \
        else "image"


def _existing(path: PathLike, what: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist or is not a file")
    return file


def _check_image(file: Path) -> str | None:
    """None if ``file`` decodes (Pillow open + load; SVG rendered by cairosvg), else why not."""
    try:
        if file.suffix.lower() == ".svg":
            from jointspace.data.image_files import check_svg_size

            check_svg_size(file)
            try:
                import cairosvg
            except (ImportError, OSError):  # no cairo library: at least parse the XML
                from xml.etree import ElementTree

                if not ElementTree.parse(file).getroot().tag.endswith("svg"):
                    raise ValueError("root element is not <svg>") from None
            else:
                cairosvg.svg2png(url=str(file), output_width=8, output_height=8)
        else:
            from jointspace.data.image_files import open_image

            with open_image(file) as im:  # size first, then structure and checksums,
                im.verify()  # whatever ImageFile.LOAD_TRUNCATED_IMAGES says
            with open_image(file) as im:
                im.load()
    except Exception as e:  # any decoder failure means a broken file: reported, not raised
        return f"unreadable image: {type(e).__name__}: {e}"
    return None


def _check_audio(file: Path) -> str | None:
    """None if soundfile reads ``file``'s header and it has at least one frame, else why not."""
    import soundfile as sf

    try:
        info = sf.info(str(file))
    except Exception as e:  # libsndfile refuses the file: reported, not raised
        return f"unreadable audio: {type(e).__name__}: {e}"
    if info.samplerate < 1 or info.channels < 1:
        return f"impossible audio header: {info.samplerate} Hz, {info.channels} channels"
    if info.frames <= 0:
        return "empty audio: 0 frames"
    from jointspace.data.audio_files import audio_length_problem

    too_long = audio_length_problem(info.frames, info.samplerate, info.channels)
    return f"audio too long: {too_long}" if too_long else None


def _check_video(file: Path) -> str | None:
    """None if PyAV decodes ``file``'s first frame within the header limits, else why not."""
    from jointspace.data.video_files import read_video

    try:
        read_video(file, max_frames=1)
    except Exception as e:  # any decoder failure means a broken file: reported, not raised
        return f"unreadable video: {type(e).__name__}: {e}"
    return None


def _check_media(file: Path) -> str | None:
    """The check of ``file``'s kind of media (see :func:`media_kind`)."""
    checks = {"image": _check_image, "video": _check_video, "audio": _check_audio}
    return checks[media_kind(file)](file)


def _file_problem(file: Path, root: Path, allow_outside: bool,
                  check: Callable | None) -> str | None:
    """Why a caption file's row cannot use ``file`` (outside the folder, missing, bad name,
    undecodable), or None."""
    try:
        if not allow_outside and not file.resolve().is_relative_to(root):
            return f"outside the folder: {file} (pass allow_outside=True to allow it)"
        if not file.is_file():
            return f"missing file: {file}"
    except (OSError, RuntimeError, ValueError) as e:  # too long, a symlink loop, a NUL byte
        return f"bad file name: {getattr(e, 'strerror', None) or e}"
    return check(file) if check else None


def _load_pairs(
    root: PathLike,
    captions: PathLike,
    view: str,
    columns: list[str],
    check: Callable | None,
    text_columns: int = 1,
    separator: str | None = None,
    allow_outside: bool = False,
) -> MultiView:
    """Body of `from_folder` / `from_audio_folder`; ``columns`` = file, ``text_columns``
    caption columns (joined by `_join_text`)[, label]. ``view`` "media": the view is named
    by the files' kind (:func:`media_kind`), one kind per folder."""
    root_dir = Path(root).expanduser()
    if not root_dir.is_dir():
        what = "image" if view == "media" else view
        raise FileNotFoundError(f"{what} folder {str(root)!r} does not exist or is not a folder")
    path = _existing(captions, "captions file")
    root_dir = root_dir.resolve()
    records, skipped = read_records(path, columns)
    verdict: dict[Path, str | None] = {}  # each file is checked once
    kept = []  # (name, path, caption, label)
    caption_name = "+".join(columns[1 : 1 + text_columns])
    for line, rec, text in records:
        values = [None if rec.get(c) is None else str(rec[c]).strip() for c in columns]
        joined = join_text(values[1 : 1 + text_columns], separator)
        values = [values[0], joined, *values[1 + text_columns :]]
        names = [columns[0], caption_name, *columns[1 + text_columns :]]
        name, file = values[0] or "", root_dir / (values[0] or "")
        reason = next((f"missing column {c!r}" for c, v in zip(names, values) if v is None), None)
        reason = reason or next((f"empty {c}" for c, v in zip(names, values) if not v), None)
        if reason is None and values[1].lower() in MISSING_TEXT:
            reason = f"missing value: {caption_name} reads {values[1]!r}"
        if reason is None:
            if file not in verdict:
                verdict[file] = _file_problem(file, root_dir, allow_outside, check)
            reason = verdict[file]
        if reason:
            skipped.append(skip_row(line, name or text, reason))
        else:
            kept.append((name, file, values[1], values[2] if len(values) > 2 else None))
    skipped.sort(key=lambda s: s["row"])
    counts = Counter(s["reason"].split(":")[0] for s in skipped)
    why = ", ".join(f"{c} {r}" for r, c in counts.most_common())
    if not kept:
        tried = [
            s["reason"].partition(": ")[2]
            for s in skipped
            if s["reason"].startswith("missing file")
        ]
        hint = f"; paths tried, relative to {str(root_dir)!r}: e.g. {tried[0]!r}" if tried else ""
        raise ValueError(f"no usable rows in {str(path)!r}: {len(skipped)} skipped ({why}){hint}")
    if skipped:
        n_rows = len(kept) + len(skipped)
        msg = f"{path.name}: skipped {len(skipped)} of {n_rows} rows ({why}); see meta['skipped']"
        warnings.warn(msg, stacklevel=3)
    group_of: dict[Path, int] = {}
    groups = [group_of.setdefault(file, len(group_of)) for _, file, _, _ in kept]
    seen: Counter = Counter()
    ids = []
    for (name, *_), g in zip(kept, groups):
        ids.append(f"{name}#{seen[g]}")
        seen[g] += 1
    meta: dict[str, Any] = {"source": str(path), "root": str(root_dir), "skipped": skipped}
    labels = None
    if len(columns) > 1 + text_columns:
        meta["label_names"] = sorted({k[3] for k in kept})
        code = {n: i for i, n in enumerate(meta["label_names"])}
        labels = np.array([code[k[3]] for k in kept], dtype=np.int64)
    if view == "media":
        kinds = Counter(media_kind(k[1]) for k in kept)
        if len(kinds) > 1:
            found = ", ".join(f"{c} {kind} files" for kind, c in kinds.most_common())
            raise ValueError(f"{str(path)!r} names {found}; expected one kind of media "
                             "(images, video or audio) per folder")
        view = next(iter(kinds))
    views = {view: [str(k[1]) for k in kept], "text": [k[2] for k in kept]}
    return MultiView(views, labels=labels, groups=np.array(groups), ids=np.array(ids), meta=meta)


def from_folder(
    images_dir: PathLike,
    captions: PathLike,
    *,
    image_column: str = "image",
    caption_column: str | Sequence[str] = "caption",
    label_column: str | None = None,
    check_images: bool = True,
    separator: str | None = None,
    allow_outside: bool = False,
) -> MultiView:
    """Image–caption pairs from a folder of images and a caption file; or video–caption or
    audio–caption pairs, when the files are videos (.mp4, .webm, .mkv, .avi, .mov: a view
    ``video``, each file's first frame decoded by PyAV) or audio (.wav, .flac, .ogg, .mp3:
    a view ``audio``).

    Args:
        images_dir: folder holding the images (or videos, or audio files).
        captions: ``.csv`` / ``.tsv`` file with a header, ``.jsonl`` (one JSON object a
            line) or ``.parquet``, of rows (image file relative to ``images_dir``, caption).
            An image may have several captions: every caption is one sample.
        image_column: the column of image (video, audio) paths, relative to ``images_dir``
            (paths are tried as ``images_dir / value``; messages show the paths tried).
        caption_column: the caption column, or several (``["title", "keywords"]``) joined
            into one caption: "title. keywords" (a full stop added unless the part ends in
            punctuation; a missing or empty part is left out).
        label_column: optional column of class labels.
        separator: splits multi-value text cells (``"red|apple"`` with ``"|"``), whose
            values are joined by ", " in the caption.
        check_images: decode every image once (Pillow open + load; SVG rendered by cairosvg;
            a video's first frame; an audio file's header) and skip those that fail; with
            False only existence is checked.
        allow_outside: accept paths that leave ``images_dir`` (``../x.png``, absolute paths,
            symlinks pointing outside); by default such rows are skipped and reported.

    Returns:
        MultiView of the n usable rows: views ``image`` (or ``video`` / ``audio``: n
        absolute paths) and ``text`` (n
        captions); ``groups`` (n,) int, one id per image in order of first appearance; ``ids``
        (n,) ``"<image>#<k>"``, the k-th usable caption (from 0) of that image; ``labels``
        (n,) int codes into ``meta["label_names"]`` (sorted) if ``label_column``. Skipped rows
        (missing, broken or outside file, empty caption or one reading "nan", missing column,
        bad JSON, more fields than the header, a row spanning lines) are listed in
        ``meta["skipped"]`` as ``{"row": 1-based line, "item": image name or line text,
        "reason": str}`` and counted per reason by a warning.

    Raises:
        FileNotFoundError: ``images_dir`` or ``captions`` does not exist.
        ValueError: unknown extension, a named column not in the header, no usable row,
            files of several kinds (images and videos).
    """
    texts = [caption_column] if isinstance(caption_column, str) else list(caption_column)
    if not texts:
        raise ValueError("caption_column is empty; expected a column name or a list of them")
    columns = [image_column, *texts] + ([label_column] if label_column else [])
    check = _check_media if check_images else None
    return _load_pairs(images_dir, captions, "media", columns, check, len(texts), separator,
                       allow_outside)


def from_audio_folder(
    audio_dir: PathLike,
    captions: PathLike,
    *,
    audio_column: str = "audio",
    caption_column: str = "caption",
    label_column: str | None = None,
    allow_outside: bool = False,
) -> MultiView:
    """Audio–caption pairs (WAV, FLAC, OGG, …) from a folder and a caption file.

    As `from_folder`, with every file checked by ``soundfile.info`` (unreadable files and
    files of 0 frames are skipped and reported). Returns a MultiView with views ``audio`` (n
    absolute paths) and ``text`` (n captions), ``groups`` (n,), ``ids`` (n,), ``meta``.
    """
    columns = [audio_column, caption_column] + ([label_column] if label_column else [])
    return _load_pairs(audio_dir, captions, "audio", columns, _check_audio,
                       allow_outside=allow_outside)

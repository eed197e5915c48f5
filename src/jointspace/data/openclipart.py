"""Open Clip Art Library 0.18 as image–caption pairs: `load_openclipart`.

8,121 public-domain SVGs (Debian ``openclipart-svg``) in category folders, with RDF metadata
inside each file; each is rendered once to a PNG cached by the sha256 of its bytes.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.atomic import atomic_write
from jointspace.data.multiview import MultiView

DEFAULT_ROOT = "/usr/share/openclipart/svg"
SPLITS = ("train", "val", "test")
DESCRIPTION = "8,121 public-domain clip-art SVGs rendered to RGB, captioned from their metadata."
CITATION = "Open Clip Art Library 0.18, public domain, via Debian openclipart-svg."
_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "cc": "http://web.resource.org/cc/",
}
_TRIVIAL = re.compile(
    r"(untitled|no ?title|title|new document|drawing|image|svg|none|n/?a)?[\s\d#._-]*"
    r"(document|drawing)?[\s\d#._-]*|hash\(0x[0-9a-f]+\)",
    re.IGNORECASE,
)
_UNITS = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "mm": 96 / 25.4, "cm": 96 / 2.54, "in": 96.0}
_LENGTH = re.compile(r"\s*([0-9.]+(?:e[+-]?\d+)?)\s*(px|pt|pc|mm|cm|in)?\s*", re.IGNORECASE)


def _clean(text: str | None) -> str:
    """Whitespace collapsed; "" for empty or trivial text ("Untitled", "HASH(0x…)")."""
    text = " ".join((text or "").split())
    return "" if _TRIVIAL.fullmatch(text) else text


def _norm(word: str) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", word.lower()).split())


def _length(value: str | None) -> float | None:
    m = _LENGTH.fullmatch(value or "")
    try:
        return float(m.group(1)) * _UNITS[(m.group(2) or "").lower()] if m else None
    except ValueError:
        return None


def _parse(data: bytes) -> dict[str, Any]:
    """Title, description, keywords, aspect (width / height or None); ET.ParseError if bad XML."""
    root = ET.fromstring(data)
    work = root.find(".//cc:Work", _NS)
    scope, pre = (root, ".//") if work is None else (work, "")

    def text(node: ET.Element | None) -> str:
        return "" if node is None else " ".join("".join(node.itertext()).split())

    subject = scope.find(pre + "dc:subject", _NS)
    keywords = [] if subject is None else [text(li) for li in subject.iterfind(".//rdf:li", _NS)]
    if subject is not None and not len(subject):  # plain-text subject: "a, b, c"
        keywords = (subject.text or "").split(",")
    box = [_length(v) for v in (root.get("viewBox") or "").replace(",", " ").split()]
    w, h = box[2:] if len(box) == 4 else (None, None)
    if not (w and h):
        w, h = _length(root.get("width")), _length(root.get("height"))
    return {
        "title": text(scope.find(pre + "dc:title", _NS)),
        "description": text(scope.find(pre + "dc:description", _NS)),
        "keywords": [k.strip() for k in keywords if k.strip()],
        "aspect": w / h if w and h and w > 0 and h > 0 else None,
    }


def caption(meta: dict[str, Any], category: str) -> str:
    """One caption: title, description (if any), then ``keywords: a, b, c``; "" if no text.

    Trivial titles and descriptions are dropped, as are keywords that only repeat the
    ``category`` (``animal`` in ``animals``), repeated keywords and a description equal to
    the title.
    """
    title, desc = _clean(meta.get("title")), _clean(meta.get("description"))
    if desc.lower() == title.lower():
        desc = ""
    cat, seen, keywords = _norm(category), set(), []
    for k in map(_clean, meta.get("keywords", [])):
        n = _norm(k)
        if n and n not in seen and n not in (cat, cat.removesuffix("s"), cat + "s"):
            seen.add(n)
            keywords.append(k)
    parts = [p if p[-1] in ".!?:;" else p + "." for p in (title, desc) if p]
    if keywords:
        parts.append("keywords: " + ", ".join(keywords))
    return " ".join(parts)


def split_of(relpath: str) -> str:
    """The split of ``relpath``: sha256 mod 100 is < 10 → "test", < 20 → "val", else "train"."""
    r = int.from_bytes(hashlib.sha256(relpath.encode()).digest(), "big") % 100
    return "test" if r < 10 else "val" if r < 20 else "train"


def _write_atomic(path: Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def _render(data: bytes, size: int, aspect: float | None) -> bytes:
    """PNG bytes of exactly (size, size) RGB: the SVG fitted in, centred, on white."""
    import cairosvg
    from PIL import Image

    a = aspect if aspect and 1e-3 < aspect < 1e3 else 1.0
    w, h = (size, max(1, round(size / a))) if a >= 1 else (max(1, round(size * a)), size)
    try:
        png = cairosvg.svg2png(bytestring=data, output_width=w, output_height=h)
    except Exception as err:  # defusedxml refuses DTD entities; expat expands internal ones
        if type(err).__name__ != "EntitiesForbidden":
            raise
        data = ET.tostring(ET.fromstring(data))
        png = cairosvg.svg2png(bytestring=data, output_width=w, output_height=h)
    img = Image.open(BytesIO(png)).convert("RGBA")
    if img.width > size or img.height > size:
        img.thumbnail((size, size))
    canvas = Image.new("RGB", (size, size), "white")
    canvas.paste(img, ((size - img.width) // 2, (size - img.height) // 2), img)
    out = BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def _work(task: tuple[str, str, int, str]) -> tuple[bool, bool]:
    """Parse one SVG to ``<sha256>.json`` and, if it has text, render ``<sha256>_<size>.png``
    (``.failed`` on error), each unless cached. Returns whether (parsed, rendered) ran."""
    path, key, size, cache = task
    folder = Path(cache)
    meta_path, png_path = folder / f"{key}.json", folder / f"{key}_{size}.png"
    data = Path(path).read_bytes()
    parsed = not meta_path.exists()
    if parsed:
        try:
            meta = _parse(data)
        except Exception as err:  # ParseError, or encodings expat refuses
            meta = {"error": f"unparseable: {err}"}
        _write_atomic(meta_path, json.dumps(meta).encode())
    else:
        meta = json.loads(meta_path.read_text())
    if "error" in meta or not caption(meta, "") or png_path.exists():
        return parsed, False
    try:
        _write_atomic(png_path, _render(data, size, meta.get("aspect")))
    except Exception as err:  # cairosvg raises many kinds; the file is skipped
        _write_atomic(folder / f"{key}_{size}.failed", repr(err).encode())
    return parsed, True


def _run(tasks: list[tuple[str, str, int, str]], n_jobs: int) -> tuple[int, int]:
    """Run `_work` on the tasks (in a process pool when useful); returns (parsed, rendered)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    parsed = rendered = 0
    pool = None
    if n_jobs > 1 and len(tasks) >= 8:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        pool = ProcessPoolExecutor(min(n_jobs, len(tasks)), mp_context=ctx)
    try:
        chunk = max(1, min(16, len(tasks) // (8 * n_jobs)))
        results = pool.map(_work, tasks, chunksize=chunk) if pool else map(_work, tasks)
        columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, transient=True) as bar:
            job = bar.add_task("openclipart: parse + render", total=len(tasks))
            for p, r in results:
                parsed, rendered = parsed + p, rendered + r
                bar.advance(job)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return parsed, rendered


def load_openclipart(
    split: str | None = None,
    size: int = 64,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    limit: int | None = None,
) -> MultiView:
    """OpenClipArt image–caption pairs as a MultiView.

    Args:
        split: None (all samples, ``meta["split"]`` (n,) gives each one's split), or one of
            "train", "val", "test" (≈ 80/10/10, by a hash of the path: see `split_of`;
            a symlinked copy follows the file it points to, so one image is in one split),
            or several joined by "+" ("train+val": every sample outside the test split).
        size: side in pixels of the square RGB renders.
        root: folder of SVGs (category folders below it); default Debian's
            ``/usr/share/openclipart/svg``.
        cache_dir: cache root (renders go to ``<cache_dir>/openclipart/``); default env
            ``JOINTSPACE_CACHE`` or ``~/.cache/jointspace``. Failed renders are remembered
            too (``.failed`` files): delete them to retry.
        n_jobs: worker processes for parsing and rendering uncached files; default
            ``os.cpu_count()``.
        limit: only the first ``limit`` SVGs in sorted path order (for quick tests).

    Returns:
        MultiView with views ``image`` (n paths to (size, size, 3) PNGs) and ``text``
        (n captions); ``labels`` (n,) category codes into ``meta["label_names"]``;
        ``groups`` (n,) equal for byte-identical SVGs; ``ids`` (n,) paths relative to root;
        ``meta``: name, description, citation, label_names, size, split, ``skipped``
        (reason → relative paths: "unparseable", "no text", "render failed") and
        ``cache`` (distinct files parsed and rendered by this call).

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: bad ``split``, ``size``, ``n_jobs`` or ``limit``, or no usable sample.
    """
    wanted = None if split is None else split.split("+")
    if wanted is not None and not set(wanted) <= set(SPLITS):
        raise ValueError(
            f"split is {split!r}; expected None or one of {list(SPLITS)} (or several joined "
            "by '+', e.g. 'train+val')"
        )
    if not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size is {size!r}; expected a positive int")
    n_jobs = (os.cpu_count() or 1) if n_jobs is None else n_jobs
    if n_jobs < 1:
        raise ValueError(f"n_jobs is {n_jobs}; expected at least 1")
    if limit is not None and limit < 1:
        raise ValueError(f"limit is {limit}; expected None or at least 1")
    root = Path(root if root is not None else DEFAULT_ROOT)
    if not root.is_dir():
        raise FileNotFoundError(
            f"OpenClipArt folder {root} is missing; install Debian's openclipart-svg "
            "(`apt-get install -y openclipart-svg`) or pass root="
        )
    base = cache_dir or os.environ.get("JOINTSPACE_CACHE") or Path.home() / ".cache" / "jointspace"
    cache = Path(base).expanduser() / "openclipart"
    cache.mkdir(parents=True, exist_ok=True)

    rels = sorted(
        (Path(d) / f).relative_to(root).as_posix()
        for d, _, files in os.walk(root)
        for f in files
        if f.lower().endswith(".svg")
    )
    category = {r: r.split("/")[0] if "/" in r else "" for r in rels}
    label_names = sorted(set(category.values()))
    rels = rels[:limit]
    real_root = root.resolve()
    skipped: dict[str, list[str]] = {"unparseable": [], "no text": [], "render failed": []}
    keys: dict[str, str] = {}
    metas: dict[str, dict[str, Any]] = {}
    tasks: dict[str, tuple[str, str, int, str]] = {}  # one per distinct content
    for r in rels:
        try:
            keys[r] = k = hashlib.sha256((root / r).read_bytes()).hexdigest()
        except OSError:
            skipped["unparseable"].append(r)
            continue
        if k not in metas and (cache / f"{k}.json").exists():
            metas[k] = json.loads((cache / f"{k}.json").read_text())
        meta = metas.get(k)
        done = any((cache / f"{k}_{size}{ext}").exists() for ext in (".png", ".failed"))
        if meta is None or ("error" not in meta and caption(meta, "") and not done):
            tasks.setdefault(k, (str(root / r), k, size, str(cache)))
    parsed, rendered = _run(list(tasks.values()), n_jobs) if tasks else (0, 0)

    keep, texts = [], []
    for r, k in keys.items():
        meta = metas.get(k) or metas.setdefault(k, json.loads((cache / f"{k}.json").read_text()))
        text = "" if "error" in meta else caption(meta, category[r])
        bad = "unparseable" if "error" in meta else None if text else "no text"
        if not (bad or (cache / f"{k}_{size}.png").exists()):
            bad = "render failed"
        if bad:
            skipped[bad].append(r)
        else:
            keep.append(r)
            texts.append(text)
    if not keep:
        raise ValueError(f"no usable OpenClipArt sample under {root} (skipped: {skipped})")

    def split_key(r: str) -> str:
        real = (root / r).resolve()
        return real.relative_to(real_root).as_posix() if real.is_relative_to(real_root) else r

    splits = np.array([split_of(split_key(r)) for r in keep])
    _, groups = np.unique([keys[r] for r in keep], return_inverse=True)
    mv = MultiView(
        {"image": [str(cache / f"{keys[r]}_{size}.png") for r in keep], "text": texts},
        labels=np.array([label_names.index(category[r]) for r in keep], dtype=np.int64),
        groups=groups.astype(np.int64),
        ids=np.array(keep),
        meta={
            "name": "openclipart",
            "description": DESCRIPTION,
            "citation": CITATION,
            "label_names": label_names,
            "size": int(size),
            "split": splits,
            "skipped": skipped,
            "cache": {"dir": str(cache), "parsed": parsed, "rendered": rendered},
        },
    )
    if split is None:
        return mv
    chosen = np.isin(splits, wanted)
    if not chosen.any():
        raise ValueError(f"split {split!r} is empty among the {len(keep)} samples (limit={limit})")
    out = mv.subset(np.flatnonzero(chosen))
    out.meta["split"] = split
    return out

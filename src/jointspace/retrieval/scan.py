"""What goes into an index: the images of a folder (with their captions when a captions file
is given), or of a built-in dataset, as :class:`Item` records, and the plan that tells an
incremental build which items are new, changed, unchanged or gone."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from jointspace.pipeline.manifest import sha256_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class Item:
    """One image of a collection.

    Attributes:
        id: the image's name in the index: its path relative to the collection's root
            (posix), or a dataset's own id.
        file: absolute path of the image file.
        path: ``file`` relative to the collection's root (posix): what the index stores.
        captions: its captions (maybe none).
        label: its class label, if any.
    """

    id: str
    file: Path
    path: str
    captions: list[str] = field(default_factory=list)
    label: str | None = None

    def stat(self) -> dict[str, Any]:
        """``size`` and ``mtime_ns`` of the file, as stored in the index."""
        st = self.file.stat()
        return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}

    @cached_property
    def sha256(self) -> str:
        """The SHA-256 of the file's bytes (read once per scan)."""
        return sha256_file(self.file)

    @property
    def caption(self) -> str | None:
        """The captions joined for display (" | "), or None."""
        return " | ".join(self.captions) if self.captions else None


def scan_folder(images_dir: str | os.PathLike) -> list[Item]:
    """Every image file under ``images_dir`` (recursively, hidden folders and files skipped),
    sorted by id.

    Raises:
        FileNotFoundError: ``images_dir`` is not a folder.
    """
    root = Path(images_dir).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"images folder {str(images_dir)!r} does not exist")
    items = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            file = Path(folder) / name
            rel = file.relative_to(root).as_posix()
            items.append(Item(rel, file, rel))
    return sorted(items, key=lambda it: it.id)


def items_from_multiview(data: Any, root: Path | None = None) -> tuple[list[Item], Path]:
    """The images of an image–text MultiView (from ``from_folder`` or a built-in dataset),
    one :class:`Item` per distinct image file with all its captions, and their root folder.

    With ``root`` (your images folder), ids are paths relative to it; without, the root is
    the files' common folder and ids are the data's own ids (a built-in dataset's names)
    with any ``#k`` caption suffix removed.

    Raises:
        ValueError: an image outside ``root``, or two images with one id.
    """
    files = [Path(path).resolve() for path in data.views["image"]]
    use_data_ids = root is None and data.ids is not None
    if root is None:
        root = Path(os.path.commonpath(files)) if files else Path.cwd()
        root = root.parent if root in files else root
    names = data.meta.get("label_names")
    items: dict[str, Item] = {}
    texts = data.views.get("text")
    for i, file in enumerate(files):
        key = str(file)
        if key not in items:
            if not file.is_relative_to(root):
                raise ValueError(f"image {key!r} lies outside the images folder {str(root)!r}")
            rel = file.relative_to(root).as_posix()
            item_id = str(data.ids[i]).split("#")[0] if use_data_ids else rel
            label = None
            if data.labels is not None:
                code = data.labels[i]
                label = str(names[int(code)]) if names is not None else str(code)
            items[key] = Item(item_id, file, rel, [], label)
        if texts is not None and texts[i] and texts[i] not in items[key].captions:
            items[key].captions.append(str(texts[i]))
    out = sorted(items.values(), key=lambda it: it.id)
    seen: set[str] = set()
    for item in out:
        if item.id in seen:
            raise ValueError(f"two images share the id {item.id!r}; expected unique ids")
        seen.add(item.id)
    return out, root


@dataclass
class Plan:
    """What an incremental build does to one collection.

    Attributes:
        embed: items to embed (new, or changed content); touch: items whose file changed on
        disk but not in content (only their stat is rewritten); unchanged: count; remove:
        ids no longer in the source.
    """

    embed: list[Item]
    touch: list[tuple[Item, int]]
    unchanged: int
    remove: list[str]


def plan_images(items: list[Item], stored: dict[str, dict[str, Any]]) -> Plan:
    """Compare the scanned ``items`` with the stored rows (id → metadata dict).

    An item is unchanged when its size, mtime, caption, label and path match what is stored
    (other metadata changes are a ``touch``); when size or mtime differ, its SHA-256
    decides between ``touch`` (same bytes) and ``embed``.
    """
    embed, touch, unchanged = [], [], 0
    for item in items:
        row = stored.get(item.id)
        if row is None:
            embed.append(item)
            continue
        stat = item.stat()
        same_meta = (row.get("caption"), row.get("label"), row.get("path")) == (
            item.caption, item.label, item.path)
        if stat["size"] == row.get("size") and stat["mtime_ns"] == row.get("mtime_ns"):
            if same_meta:
                unchanged += 1
            else:
                touch.append((item, int(row["key"])))
        elif stat["size"] == row.get("size") and item.sha256 == row.get("sha256"):
            touch.append((item, int(row["key"])))
        else:
            embed.append(item)
    ids = {item.id for item in items}
    return Plan(embed, touch, unchanged, sorted(set(stored) - ids))

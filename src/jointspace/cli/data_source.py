"""Where a command's data comes from: a built-in dataset, or your own images folder with a
captions file, or your own numeric table. :func:`data_source_options` gives a command the ten
data options (``fit``, ``eval``, ``bench``, ``audit``, ``classify``, ``predict``, ``export``);
``index build`` takes a few of them (the option constants)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import typer

from jointspace.cli.common import parse_pairs, split_names

DATASET = typer.Option(
    None,
    help="Built-in dataset name (see `datasets list`), with loader options if any: "
    "openclipart:size=224 (renders at 224 px); split=train+val trains on both official "
    "training splits (tested on 'test').",
)
IMAGES = typer.Option(
    None, help="Your images folder (or videos, or audio files); the paths in --captions are "
    "relative to it."
)
CAPTIONS = typer.Option(
    None, help="Your captions file (.csv, .tsv, .jsonl, .parquet): an image column, text column(s)."
)
TABLE = typer.Option(None, help="Your numeric table (.csv, .tsv, .parquet), with --columns.")
COLUMNS = typer.Option(
    None, help="Views of --table as view=column pattern, e.g. 'gene=gene_*,lipid=lip_*'."
)
IMAGE_COLUMN = typer.Option(
    "image", help="Column of --captions holding the image (video, audio) paths.")
TEXT_COLUMNS = typer.Option(
    "caption", help="Text column(s) of --captions; several are joined: 'title,keywords'."
)
LABEL_COLUMN = typer.Option(None, help="Optional column of class labels.")
SEPARATOR = typer.Option(None, help="Splits multi-value text cells, e.g. '|' for 'red|apple'.")
ALLOW_OUTSIDE = typer.Option(
    False, "--allow-outside-paths",
    help="Accept image paths in --captions that leave --images (../, absolute, symlinks "
    "pointing outside); by default such rows are skipped and reported.")
TRAIN_GROUPS = typer.Option(
    None,
    help="Training positives: instance (each image with its own captions; the default) or "
    "caption (images of identical captions form one group).",
)


@dataclass
class DataSource:
    """The data options of a command; :meth:`load` reads them, :meth:`describe` records
    them (a saved pipeline remembers where its training data came from)."""

    dataset: str | None = None
    images: str | None = None
    captions: str | None = None
    table: str | None = None
    columns: str | None = None
    image_column: str = "image"
    text_columns: str = "caption"
    label_column: str | None = None
    separator: str | None = None
    allow_outside: bool = False

    @property
    def given(self) -> bool:
        """Whether any source was named."""
        return bool(self.dataset or self.images or self.captions or self.table)

    def _check(self) -> None:
        own_images = self.images is not None or self.captions is not None
        chosen = [bool(self.dataset), own_images, self.table is not None]
        if sum(chosen) != 1:
            raise ValueError(
                "name one data source: --dataset NAME, or --images DIR --captions FILE, "
                "or --table FILE --columns view=pattern,…"
            )
        if own_images and not (self.images and self.captions):
            missing = "--captions FILE" if self.images else "--images DIR"
            raise ValueError(f"your own images need both --images and --captions; add {missing}")
        if self.table is not None and not self.columns:
            raise ValueError("--table needs --columns, e.g. --columns 'gene=gene_*,lipid=lip_*'")

    @property
    def official_split(self) -> bool:
        """Whether the data comes with its own test split (a built-in dataset's)."""
        if not self.dataset:
            return False
        from jointspace.data.datasets import dataset_info

        return "test" in dataset_info(self._dataset_spec()[0]).splits

    def _dataset_spec(self) -> tuple[str, dict[str, Any]]:
        """``"openclipart:size=224"`` → ``("openclipart", {"size": 224})``."""
        from jointspace.specs import parse_options, split_spec

        name, parts = split_spec(self.dataset or "")
        return name, parse_options(parts, self.dataset or "", "dataset spec")

    @property
    def name(self) -> str:
        """A short name for tables and messages."""
        if self.dataset:
            return self.dataset
        return Path(self.captions or self.table or "data").name

    def load(self) -> tuple[Any, Any]:
        """``(data, test)``: the MultiView, and its official test split when the built-in
        dataset has one (then ``data`` is the training split), else None.

        Raises:
            ValueError: no source or several, or a bad option (names it).
            FileNotFoundError: a folder or file that does not exist (names the path).
        """
        self._check()
        if self.dataset:
            from jointspace.data.datasets import load_dataset

            name, options = self._dataset_spec()
            if self.official_split:  # trained on "train" (or split=train+val), tested on "test"
                train_split = str(options.pop("split", "train"))
                if "test" in train_split.split("+"):
                    raise ValueError(
                        f"dataset spec {self.dataset!r} trains on the test split; "
                        "expected split=train or split=train+val"
                    )
                return (
                    load_dataset(name, split=train_split, **options),
                    load_dataset(name, split="test", **options),
                )
            return load_dataset(name, **options), None
        if self.table is not None:
            from jointspace.data import from_csv, from_parquet

            reader = from_parquet if self.table.lower().endswith(".parquet") else from_csv
            views = parse_pairs(self.columns, "columns") or {}
            data = reader(self.table, views, label_column=self.label_column)
            data.meta["name"] = self.name
            return data, None
        import warnings

        from jointspace.data import from_folder

        texts = split_names(self.text_columns) or ["caption"]
        with warnings.catch_warnings():  # skipped rows are shown by `report_skipped`
            warnings.simplefilter("ignore", UserWarning)
            data = from_folder(
                self.images,
                self.captions,
                image_column=self.image_column,
                caption_column=texts[0] if len(texts) == 1 else texts,
                label_column=self.label_column,
                separator=self.separator,
                allow_outside=self.allow_outside,
            )
        data.meta["name"] = self.name
        report_skipped(data)
        return data, None

    def describe(self) -> dict[str, Any]:
        """The options as JSON, paths made absolute (so `eval` finds the data again)."""
        out = {k: v for k, v in asdict(self).items() if v is not None and v is not False}
        for key in ("images", "captions", "table"):
            if key in out:
                out[key] = str(Path(out[key]).expanduser().resolve())
        return out


# The data options in the order `--help` shows them: (parameter name = DataSource field, type,
# option). The types are real ones, not strings, so typer needs to resolve nothing.
DATA_OPTIONS: tuple[tuple[str, type, Any], ...] = (
    ("dataset", str, DATASET),
    ("images", str, IMAGES),
    ("captions", str, CAPTIONS),
    ("table", str, TABLE),
    ("columns", str, COLUMNS),
    ("image_column", str, IMAGE_COLUMN),
    ("text_columns", str, TEXT_COLUMNS),
    ("label_column", str, LABEL_COLUMN),
    ("separator", str, SEPARATOR),
    ("allow_outside", bool, ALLOW_OUTSIDE),
)
assert [name for name, _, _ in DATA_OPTIONS] == [f.name for f in fields(DataSource)]


def data_source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the data options: its keyword-only parameter ``source: DataSource``
    becomes, on the command line, the ten options of :data:`DATA_OPTIONS` (in its place, so
    ``--help`` lists them where ``source`` stands), and the command is called with the
    :class:`DataSource` they make.

    Put it below ``@app.command()`` (and below ``@user_errors``): typer reads the signature
    and type hints this sets on the wrapper.
    """
    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    names = [p.name for p in params]
    if "source" not in names:
        raise TypeError(f"{func.__name__} needs a parameter `source: DataSource`")
    clash = sorted(set(names) & {name for name, _, _ in DATA_OPTIONS})
    if clash:
        raise TypeError(f"{func.__name__} declares data options itself: {', '.join(clash)}")
    at = names.index("source")
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option,
                               annotation=kind) for name, kind, option in DATA_OPTIONS]
    after = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[at + 1:]]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "source" not in kwargs:  # typer passes the options; a caller may pass a source
            defaults = asdict(DataSource())
            kwargs["source"] = DataSource(**{name: kwargs.pop(name, defaults[name])
                                             for name, _, _ in DATA_OPTIONS})
        return func(*args, **kwargs)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*params[:at], *added, *after])
    annotations = {k: v for k, v in func.__annotations__.items() if k != "source"}
    wrapper.__annotations__ = {**annotations, **{name: kind for name, kind, _ in DATA_OPTIONS}}
    return wrapper


def report_skipped(data: Any, show: int = 3) -> None:
    """Tell the user (on stderr) which rows of their caption file were skipped and why."""
    from rich.console import Console

    skipped = data.meta.get("skipped") or []
    if not skipped:
        return
    err = Console(stderr=True)
    total = data.n_samples + len(skipped)
    err.print(f"skipped {len(skipped)} of {total} rows:", highlight=False)
    for s in skipped[:show]:
        err.print(f"  row {s['row']} ({s['item']}): {s['reason']}", highlight=False, soft_wrap=True)
    if len(skipped) > show:
        err.print(f"  … and {len(skipped) - show} more", highlight=False)

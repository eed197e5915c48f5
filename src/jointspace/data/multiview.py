"""`MultiView`: n paired samples across named views, with a mask of observed views."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ViewData = np.ndarray | list


class NonNumericError(ValueError, TypeError):
    """An array view holds values that are not numbers (a ValueError, and the TypeError
    numpy and scikit-learn raise for an object that is not a number)."""


def _as_view(name: str, data: Any) -> ViewData:
    """A numeric view as a 2-D array (n, d), or a raw view (paths, strings) as a list."""
    if isinstance(data, Sequence) and not isinstance(data, str | bytes | np.ndarray):
        if len(data) and isinstance(data[0], str | bytes | os.PathLike):
            return list(data)
    elif not (isinstance(data, np.ndarray) or hasattr(data, "__array__")):
        raise ValueError(
            f"view {name!r} is a {type(data).__name__}; expected an n × d array or a list of items"
        )
    arr = np.asarray(data)
    if arr.ndim == 1 and arr.dtype.kind in "USO":
        return arr.tolist()
    if arr.dtype.kind == "O" and arr.ndim == 2:  # numbers in an object array, as sklearn
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise NonNumericError(f"view {name!r} is an object array holding non-numbers "
                                  f"({exc}); expected a numeric array") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"view {name!r} has dtype {arr.dtype}; expected a numeric array")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"view {name!r} has {arr.ndim} dimensions; expected n × d")
    return arr


@dataclass(eq=False)
class MultiView:
    """n paired samples across named views.

    Args:
        views: mapping of view name to data, or a sequence (names become ``view0``,
            ``view1``, …). Each view is a numeric array of shape (n, d) (a 1-D array
            becomes (n, 1)) or a list of n raw items (file paths, strings).
        mask: bool array (n, n_views); ``mask[i, j]`` is True when view j is observed
            for sample i. Default: all observed. Rows of a numeric view that are not
            observed may hold anything (NaN included): they are ignored, never used.
        labels: optional (n,) class labels, used for category relevance (mAP) and
            stratified splits.
        groups: optional (n,) group ids; samples sharing a group are the same item
            (e.g. several captions of one image). Default: every sample its own group.
        ids: optional (n,) sample ids. Default: ``0 … n-1``.
        meta: free-form description (``description``, ``citation``, …).

    Raises:
        ValueError: views with different row counts, NaN/inf in observed numeric rows,
            an empty view, a mask or labels of the wrong shape. (A single sample is a valid
            query; fitting on one is refused by the models.)
    """

    views: dict[str, ViewData]
    mask: np.ndarray | None = None
    labels: np.ndarray | None = None
    groups: np.ndarray | None = None
    ids: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        raw = self.views
        if isinstance(raw, Mapping):
            items = list(raw.items())
        elif isinstance(raw, Sequence) and not isinstance(raw, str):
            items = [(f"view{i}", v) for i, v in enumerate(raw)]
        else:
            raise ValueError(f"views is a {type(raw).__name__}; expected a dict or list of views")
        if not items:
            raise ValueError("views is empty; expected at least one view")
        self.views = {str(k): _as_view(str(k), v) for k, v in items}
        counts = {k: len(v) for k, v in self.views.items()}
        for k, c in counts.items():
            if c == 0:
                raise ValueError(f"view {k!r} is empty; expected at least 1 sample")
            if isinstance(self.views[k], np.ndarray) and self.views[k].shape[1] == 0:
                raise ValueError(f"view {k!r} has 0 features; expected at least 1 column")
        first = next(iter(counts))
        for k, c in counts.items():
            if c != counts[first]:
                raise ValueError(f"view {k!r} has {c} rows, view {first!r} has "
                                 f"{counts[first]}: views must have the same number of "
                                 "samples (one row per pair)")
        n = counts[first]
        if self.mask is None:
            self.mask = np.ones((n, len(self.views)), dtype=bool)
        else:
            self.mask = np.asarray(self.mask, dtype=bool)
            if self.mask.shape != (n, len(self.views)):
                raise ValueError(
                    f"mask has shape {self.mask.shape}; expected ({n}, {len(self.views)})"
                )
        for j, (k, v) in enumerate(self.views.items()):
            if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                observed = v if self.mask[:, j].all() else v[self.mask[:, j]]
                # fast path: a finite sum means every value is finite (overflow → slow path)
                with np.errstate(over="ignore"):
                    total = observed.sum()
                if not np.isfinite(total) and not np.isfinite(observed).all():
                    bad = int((~np.isfinite(observed)).any(axis=1).sum())
                    raise ValueError(
                        f"view {k!r} has NaN or inf in {bad} observed rows; expected finite "
                        "values (mark missing rows in `mask` instead)"
                    )
        self.labels = self._per_sample("labels", self.labels, n)
        self.groups = self._per_sample("groups", self.groups, n)
        self.ids = self._per_sample("ids", self.ids, n)
        if self.ids is None:
            self.ids = np.arange(n)

    @staticmethod
    def _per_sample(name: str, value: Any, n: int) -> np.ndarray | None:
        if value is None:
            return None
        arr = np.asarray(value)
        if arr.ndim != 1 or len(arr) != n:
            raise ValueError(f"{name} has shape {arr.shape}; expected ({n},)")
        return arr

    # ------------------------------------------------------------------ access
    @property
    def view_names(self) -> list[str]:
        """Names of the views, in order."""
        return list(self.views)

    @property
    def n_samples(self) -> int:
        """Number of paired samples n."""
        return len(self.mask)

    def __len__(self) -> int:
        return self.n_samples

    def __contains__(self, name: str) -> bool:
        return name in self.views

    def __getitem__(self, name: str) -> ViewData:
        """The data of view ``name``: (n, d) array or list of n items."""
        return self.views[self._check_name(name)]

    def _check_name(self, name: str) -> str:
        if name not in self.views:
            raise KeyError(f"view {name!r} does not exist; views are {self.view_names}")
        return name

    def observed(self, name: str) -> np.ndarray:
        """(n,) bool: whether view ``name`` is observed for each sample."""
        return self.mask[:, self.view_names.index(self._check_name(name))]

    @property
    def relevance_groups(self) -> np.ndarray:
        """(n,) group ids for instance relevance: ``groups`` or, if absent, each sample alone."""
        return self.groups if self.groups is not None else np.arange(self.n_samples)

    def is_numeric(self, name: str) -> bool:
        """Whether view ``name`` is a numeric (n, d) array."""
        return isinstance(self[name], np.ndarray)

    def arrays(
        self, names: Sequence[str] | None = None, dtype: Any = np.float64
    ) -> list[np.ndarray]:
        """The numeric views ``names`` (default: all) as float arrays, each (n, d_i).

        Raises:
            ValueError: a named view holds raw items, not numbers (encode it first).
        """
        out = []
        for name in names if names is not None else self.view_names:
            v = self[name]
            if not isinstance(v, np.ndarray):
                raise ValueError(
                    f"view {name!r} holds raw items ({type(v[0]).__name__}); expected a "
                    "numeric array: encode it first"
                )
            out.append(np.asarray(v, dtype=dtype))
        return out

    # ---------------------------------------------------------------- reshape
    def select(self, names: Sequence[str]) -> MultiView:
        """A MultiView with only the views ``names`` (same samples)."""
        cols = [self.view_names.index(self._check_name(n)) for n in names]
        return MultiView(
            {n: self.views[n] for n in names},
            mask=self.mask[:, cols],
            labels=self.labels,
            groups=self.groups,
            ids=self.ids,
            meta=dict(self.meta),
        )

    def subset(self, indices: Any) -> MultiView:
        """The samples at ``indices`` (int array or (n,) bool mask), all views kept."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (self.n_samples,):
                raise ValueError(
                    f"indices mask has shape {idx.shape}; expected ({self.n_samples},)"
                )
            idx = np.flatnonzero(idx)
        views: dict[str, ViewData] = {}
        for k, v in self.views.items():
            views[k] = v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return MultiView(
            views,
            mask=self.mask[idx],
            labels=pick(self.labels),
            groups=pick(self.groups),
            ids=pick(self.ids),
            meta=dict(self.meta),
        )

    def batches(
        self, batch_size: int, *, shuffle: bool = False, random_state: int | None = None
    ) -> Iterator[MultiView]:
        """Yield consecutive MultiView batches of at most ``batch_size`` samples.

        A final batch of a single sample is merged into the previous one, so that every
        batch has a covariance.
        """
        if batch_size < 2:
            raise ValueError(f"batch_size is {batch_size}; expected at least 2")
        order = np.arange(self.n_samples)
        if shuffle:
            order = np.random.default_rng(random_state).permutation(self.n_samples)
        starts = list(range(0, self.n_samples, batch_size))
        if len(starts) > 1 and self.n_samples - starts[-1] == 1:
            starts.pop()
        for i, s in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else self.n_samples
            yield self.subset(order[s:end])

    def complete_rows(self, names: Sequence[str] | None = None) -> np.ndarray:
        """(n,) bool: samples where every view in ``names`` (default: all) is observed."""
        names = self.view_names if names is None else names
        cols = [self.view_names.index(self._check_name(n)) for n in names]
        return self.mask[:, cols].all(axis=1)

    def __repr__(self) -> str:
        shapes = ", ".join(
            f"{k}: {v.shape[1]}-d" if isinstance(v, np.ndarray) else f"{k}: raw"
            for k, v in self.views.items()
        )
        extra = " labelled" if self.labels is not None else ""
        return f"MultiView(n={self.n_samples}, {shapes}{extra})"


def as_multiview(views: Any, names: Sequence[str] | None = None) -> MultiView:
    """Accept a MultiView, a dict of views or a list of views and return a MultiView.

    Args:
        views: MultiView | dict name → (n, d_i) array | list of (n, d_i) arrays.
        names: for a list, the view names (default ``view0``, ``view1``, …).
    """
    if isinstance(views, MultiView):
        return views
    if isinstance(views, Mapping):
        return MultiView(dict(views))
    if isinstance(views, Sequence) and not isinstance(views, str):
        views = list(views)
        if names is None:
            names = [f"view{i}" for i in range(len(views))]
        elif len(names) != len(views):
            raise ValueError(f"Expected {len(names)} views ({list(names)}); got {len(views)}")
        return MultiView(dict(zip(names, views)))
    raise ValueError(
        f"views is a {type(views).__name__}; expected a MultiView, a dict or a list of arrays"
    )

"""Linear fits (CCA, PLS, MCCA, GCCA) on a Ray Data dataset: the covariance statistics of
each batch of rows are computed on a worker, the batches' statistics are merged on the driver
(:meth:`~jointspace.models.linear.solvers.CovarianceAccumulator.merge`), and the model is
solved from them — the same model as the in-memory fit, with O(D²) memory per worker
whatever the rows.

    import ray
    ds = ray.data.read_parquet("s3://bucket/omics/")        # or from_items, from_arrow, …
    model = fit_on_ray(CCA(10), ds, {"gene": ["gene_*"], "lipid": ["lip_*"]})

The same call runs on a laptop (``ray.init()`` starts a local cluster) and on a cluster
(``ray.init(address="auto")``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.data.streams import CHUNK_ROWS
from jointspace.data.tables import view_columns
from jointspace.models.linear.solvers import CovarianceAccumulator


def _stacked(batch: Mapping[str, Any], columns: Sequence[str]) -> np.ndarray:
    """(m, d) float64: the columns of a numpy batch side by side (a tensor column of
    (m, d_c) rows counts as d_c columns)."""
    parts = [np.asarray(batch[c], dtype=np.float64).reshape(len(batch[c]), -1)
             for c in columns]
    return np.concatenate(parts, axis=1)


def block_statistics(batch: Mapping[str, Any], columns: Mapping[str, Sequence[str]]
                     ) -> dict[str, np.ndarray]:
    """One batch's statistics, as a one-row numpy batch: ``n`` (1,), ``mean`` (1, D) and
    ``scatter`` (1, D, D) of the block's complete rows (rows with a NaN in any view are
    left out, as ``partial_fit`` leaves them out).

    Args:
        batch: a numpy batch of the dataset (column → array).
        columns: view name → the columns making it, in order.
    """
    arrays = [_stacked(batch, names) for names in columns.values()]
    complete = np.all([~np.isnan(a).any(axis=1) for a in arrays], axis=0)
    if any(np.isinf(a).any() for a in arrays):
        raise ValueError("a view holds an infinite value; expected finite values")
    acc = CovarianceAccumulator([a.shape[1] for a in arrays])
    acc.update([a[complete] for a in arrays])
    D = sum(acc.dims)
    mean = acc.mean if acc.n else np.zeros(D)
    scatter = acc.scatter if acc.n else np.zeros((D, D))
    return {"n": np.array([acc.n]), "mean": mean[None], "scatter": scatter[None]}


def ray_statistics(dataset: Any, views: Mapping[str, Sequence[str]],
                   batch_rows: int = CHUNK_ROWS) -> tuple[CovarianceAccumulator, list[str]]:
    """The merged covariance statistics of a Ray dataset's complete rows, and the view
    names: each batch of ``batch_rows`` rows reduced on a worker (so a worker's memory is
    one batch and the O(D²) statistics, whatever the blocks' size), the results merged
    here.

    Args:
        dataset: a ``ray.data.Dataset``.
        views: view name → column names or patterns (``"gene_*"``); a column may hold
            vectors (a tensor column) or numbers.
        batch_rows: rows a worker reduces at once.
    Raises:
        ValueError: a view matching no column, or no complete row.
    """
    columns = view_columns(views, list(dataset.columns()), Path("<ray dataset>"))
    probe = dataset.take_batch(1, batch_format="numpy")
    dims = [_stacked(probe, names).shape[1] for names in columns.values()]
    blocks = dataset.map_batches(block_statistics, fn_kwargs={"columns": columns},
                                 batch_size=batch_rows, batch_format="numpy")
    merged = CovarianceAccumulator(dims)
    for row in blocks.iter_rows():
        part = CovarianceAccumulator(dims)
        part.n, part.mean, part.scatter = int(row["n"]), row["mean"], row["scatter"]
        merged.merge(part)
    if merged.n == 0:
        raise ValueError("the dataset has no complete row (every row lacks a view)")
    return merged, list(columns)


def fit_on_ray(model: Any, dataset: Any, views: Mapping[str, Sequence[str]],
               batch_rows: int = CHUNK_ROWS) -> Any:
    """Fit a covariance model (CCA, PLS, MCCA, GCCA) on a Ray dataset (see the module
    docstring and :func:`ray_statistics`): the same model as ``model.fit`` on the
    dataset's rows in memory.

    Returns:
        the fitted model.
    """
    if not hasattr(model, "fit_statistics"):
        raise ValueError(f"{type(model).__name__} is not fitted from covariance statistics; "
                         "expected CCA, PLS, MCCA or GCCA")
    statistics, names = ray_statistics(dataset, views, batch_rows)
    return model.fit_statistics(statistics, names)

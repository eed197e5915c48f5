"""The search engine over one collection's vectors: FAISS, by inner product.

The engine keeps the collection's vectors in memory beside their int64 keys (the truth it is
rebuilt from) and answers k-nearest-neighbour queries:

- ``exact``: brute force, the true top-k: FAISS's blocked GEMM + heap (``faiss.knn``) for
  batches of queries, one numpy GEMM + partial sort for a few queries (a server's).
- ``hnsw``: a graph (``IndexHNSWFlat``); deletions are tombstones that searches skip, and the
  graph is rebuilt once they pass a tenth of the collection.
- ``ivf``: an inverted file (``IndexIVFFlat``) over k-means cells; deletions are exact.

``auto`` picks exact up to :data:`EXACT_LIMIT` items and IVF above (measured by
``benchmarks/bench_index.py``: at 1M × 256, IVF with nprobe 32 answers ~4,200 batched queries/s
at recall@10 1.0 and builds in ~36 s; HNSW reaches 0.99 at ef_search 128, ~12,000/s, after an
~86 s build, and cannot delete exactly; exact search answers ~410/s. On real embeddings IVF
needs its probes: nprobe 16 / 32 / 64 give recall@10 .972 / .989 / .993 at 100,000 OpenClipArt
vectors). A filtered search is always exact over the items that pass the filter (a
prefilter): it returns the true top-k among them, whatever the engine.

- ``ivfpq``: for collections whose vectors do not fit in memory; it keeps only compressed
  codes and re-ranks candidates with the vectors read from the table
  (:mod:`jointspace.index.compressed`; :func:`make_engine` builds either kind).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

KINDS = ("auto", "exact", "hnsw", "ivf", "ivfpq")
EXACT_LIMIT = 200_000
DEFAULTS: dict[str, dict[str, int]] = {
    "exact": {},
    "hnsw": {"m": 32, "ef_construction": 80, "ef_search": 128},
    "ivf": {"nlist": 0, "nprobe": 32},  # nlist 0: 4·√n cells, chosen at build
    # codes in memory, vectors in the table (index/compressed.py); m 0: d / 4 bytes a vector
    "ivfpq": {"nlist": 0, "nprobe": 32, "m": 0, "nbits": 8, "rerank": 10},
}
MAY_BE_ZERO = ("nlist", "m")  # 0: chosen from the collection's size or dimension
REBUILD_FRACTION = 0.1
# database rows per GEMM block of FAISS's exact search; its default (1,024) reaches ~0.87 of
# the bare GEMM's speed at 1M × 256 here, 4,096 all of it (benchmarks/bench_index.py), for a
# block of at most 4,096 queries × 4,096 rows of float32 scores (64 MB)
EXACT_DATABASE_BLOCK = 4096
# below this many queries FAISS scans the rows once per query on one thread each; one
# multithreaded GEMM over the rows answers a few queries 2.5-3x faster (bench_serve: 100k × 512)
SMALL_BATCH = 20
IVF_TRAIN_PER_LIST = 64  # k-means of the IVF cells trains on at most 64 vectors per cell


def resolve_kind(kind: str, n: int) -> str:
    """The engine kind for a collection of ``n`` items (``auto`` → exact or hnsw)."""
    if kind not in KINDS:
        raise ValueError(f"engine kind {kind!r} is unknown; expected one of {', '.join(KINDS)}")
    if kind == "auto":
        return "exact" if n <= EXACT_LIMIT else "ivf"
    return kind


def check_params(kind: str, params: dict[str, Any]) -> dict[str, int]:
    """``params`` over the kind's defaults, every value a positive int (nlist and m may be
    0)."""
    known = DEFAULTS[kind]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"engine {kind!r} has no parameter {', '.join(unknown)}; "
            f"expected {', '.join(known) or 'none'}"
        )
    out = dict(known)
    for name, value in params.items():
        if not isinstance(value, int | np.integer) or value < (0 if name in MAY_BE_ZERO else 1):
            raise ValueError(f"engine parameter {name}={value!r}; expected a positive integer")
        out[name] = int(value)
    return out


def small_batch_knn(q: np.ndarray, vectors: np.ndarray, k: int,
                    block: int = 262_144) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product for a few queries: one multithreaded GEMM per block of
    rows (numpy's BLAS), then a partial sort. ``(scores, positions)``, each (q, k), best
    first."""
    best_s = np.full((len(q), 0), -np.inf, np.float32)
    best_p = np.zeros((len(q), 0), np.int64)
    for start in range(0, len(vectors), block):
        scores = q @ vectors[start : start + block].T
        kk = min(k, scores.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(scores, part, 1)], axis=1)
        best_p = np.concatenate([best_p, part + start], axis=1)
        if best_s.shape[1] > k:
            keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
            best_s = np.take_along_axis(best_s, keep, 1)
            best_p = np.take_along_axis(best_p, keep, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_s, order, 1), np.take_along_axis(best_p, order, 1)


def exact_search(q: np.ndarray, k: int, keys: np.ndarray, vectors: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The true top-k by inner product of (q, d) queries among (n,) keys' (n, d) vectors:
    ``(scores, keys)``, each (q, min(k, n)), best first."""
    import faiss

    k = min(k, len(keys))
    if k == 0:
        return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
    if len(q) < SMALL_BATCH:
        scores, pos = small_batch_knn(q, vectors, k)
    else:
        faiss.cvar.distance_compute_blas_database_bs = EXACT_DATABASE_BLOCK
        scores, pos = faiss.knn(q, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
    return scores, keys[pos]


class VectorEngine:
    """k-NN by inner product over (key, vector) pairs.

    Args:
        dim: vector dimension d.
        kind: ``auto``, ``exact``, ``hnsw`` or ``ivf`` (see the module docstring).
        params: engine parameters (hnsw: m, ef_construction, ef_search; ivf: nlist, nprobe).
    """

    in_memory = True

    def __init__(self, dim: int, kind: str = "auto", **params: Any) -> None:
        resolve_kind(kind, 0)
        if kind == "ivfpq":
            raise ValueError("the ivfpq engine reads vectors from a table: use make_engine")
        self.dim = int(dim)
        self.kind = kind
        self.params = dict(params)
        self.keys = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._ann: Any = None
        self._ann_kind = "exact"
        self._tombstones: set[int] = set()

    # --- building and changing -------------------------------------------------------------
    def _check(self, keys: Any, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        keys = np.ascontiguousarray(keys, dtype=np.int64).reshape(-1)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(vectors) != len(keys):
            raise ValueError(
                f"vectors have shape {vectors.shape} for {len(keys)} keys; "
                f"expected ({len(keys)}, {self.dim})"
            )
        return keys, vectors

    def reset(self, keys: Any, vectors: Any, ann_path: str | os.PathLike | None = None) -> None:
        """Replace the contents with (n,) keys and (n, d) vectors and build the ANN index,
        or read it from ``ann_path`` when that file was saved for exactly these contents."""
        self.keys, self.vectors = self._check(keys, vectors)
        kind = resolve_kind(self.kind, len(self.keys))
        if ann_path is None or not self.load_ann(ann_path, kind):
            self._build_ann()

    @property
    def active_kind(self) -> str:
        """The engine that answers unfiltered queries now (``auto`` resolved)."""
        return self._ann_kind

    def _build_ann(self) -> None:
        import faiss

        self._tombstones = set()
        self._ann_kind = resolve_kind(self.kind, len(self.keys))
        self._ann = None
        if self._ann_kind == "exact" or len(self.keys) == 0:
            return
        params = check_params(self._ann_kind, self.params)
        if self._ann_kind == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dim, params["m"], faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = params["ef_construction"]
        else:
            nlist = params["nlist"] or max(1, int(4 * np.sqrt(len(self.keys))))
            nlist = min(nlist, len(self.keys))
            quantizer = faiss.IndexFlatIP(self.dim)
            inner = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            inner.train(self._training_sample(IVF_TRAIN_PER_LIST * nlist))
            self._quantizer = quantizer  # the IVF index borrows it
        index = faiss.IndexIDMap2(inner)
        index.add_with_ids(self.vectors, self.keys)
        self._ann = index

    def _training_sample(self, size: int) -> np.ndarray:
        """At most ``size`` of the vectors, drawn with a fixed seed (k-means trains on it)."""
        if len(self.vectors) <= size:
            return self.vectors
        rows = np.random.default_rng(0).choice(len(self.vectors), size, replace=False)
        return self.vectors[np.sort(rows)]

    def add(self, keys: Any, vectors: Any) -> None:
        """Append items (their keys must be new)."""
        keys, vectors = self._check(keys, vectors)
        if len(keys) == 0:
            return
        self.keys = np.concatenate([self.keys, keys])
        self.vectors = np.concatenate([self.vectors, vectors])
        if self._ann is None or resolve_kind(self.kind, len(self.keys)) != self._ann_kind:
            self._build_ann()
        else:
            self._ann.add_with_ids(vectors, keys)

    def remove(self, keys: Any) -> None:
        """Drop the items with these keys (unknown keys are ignored)."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        gone = np.isin(self.keys, keys)
        if not gone.any():
            return
        removed = self.keys[gone]
        self.keys, self.vectors = self.keys[~gone], self.vectors[~gone]
        if self._ann_kind == "ivf":
            self._ann.remove_ids(removed)
        elif self._ann_kind == "hnsw":
            self._tombstones.update(int(k) for k in removed)
            if len(self._tombstones) > REBUILD_FRACTION * max(len(self.keys), 1):
                self._build_ann()

    def __len__(self) -> int:
        return len(self.keys)

    def vectors_of(self, keys: Any) -> np.ndarray:
        """The stored (m, d) vectors of ``keys`` (which must exist), in their order."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if len(keys) <= 8:  # a query by item: one linear scan per key, no sort of all keys
            pos = np.array([int(np.flatnonzero(self.keys == k)[0]) for k in keys],
                           dtype=np.int64)
        else:
            order = np.argsort(self.keys)
            pos = order[np.searchsorted(self.keys, keys, sorter=order)]
        return self.vectors[pos]

    # --- searching -------------------------------------------------------------------------
    def search(
        self, queries: Any, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best items per query.

        Args:
            queries: (q, d) array (or (d,) for one query).
            k: results per query.
            allowed: optional (m,) keys; only these items are searched (exactly).
        Returns:
            ``(scores, keys)``, each (q, k'), k' = min(k, items searched), best first; a row
            that has fewer results (HNSW skipping deleted items) is padded with key -1.
        """
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {q.shape[1]}; expected {self.dim}")
        if allowed is not None:
            mask = np.isin(self.keys, np.asarray(allowed, dtype=np.int64))
            return exact_search(q, k, self.keys[mask], self.vectors[mask])
        if self._ann is None:
            return exact_search(q, k, self.keys, self.vectors)
        return self._search_ann(q, min(k, len(self.keys)))

    def _search_ann(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        params = check_params(self._ann_kind, self.params)
        sel = None
        if self._tombstones:
            gone = np.fromiter(self._tombstones, dtype=np.int64)
            self._batch = faiss.IDSelectorBatch(gone)  # kept alive while FAISS uses it
            sel = faiss.IDSelectorNot(self._batch)
        if self._ann_kind == "hnsw":
            sp = faiss.SearchParametersHNSW(efSearch=max(params["ef_search"], k))
        else:
            sp = faiss.SearchParametersIVF(nprobe=params["nprobe"])
        if sel is not None:
            sp.sel = sel
        scores, keys = self._ann.search(q, k, params=sp)
        return scores, keys

    # --- persistence of the ANN structure --------------------------------------------------
    def save_ann(self, path: str | os.PathLike) -> bool:
        """Write the ANN index (not the vectors) to ``path``; False when there is none."""
        import faiss

        from jointspace.atomic import atomic_write

        if self._ann is None or self._tombstones:
            return False
        data = faiss.serialize_index(self._ann)
        atomic_write(path, lambda fh: fh.write(data.tobytes()))
        return True

    def memory_bytes(self) -> int:
        """Bytes the engine holds: keys, vectors and the ANN structure."""
        import faiss

        ann = int(faiss.serialize_index(self._ann).nbytes) if self._ann is not None else 0
        return self.keys.nbytes + self.vectors.nbytes + ann

    def load_ann(self, path: str | os.PathLike, kind: str) -> bool:
        """Use a saved ANN index for the current contents, if it matches them."""
        import faiss

        if not os.path.isfile(path) or kind == "exact":
            return False
        index = faiss.deserialize_index(np.fromfile(path, dtype=np.uint8))
        if index.ntotal != len(self.keys) or index.d != self.dim:
            return False
        self._ann, self._ann_kind, self._tombstones = index, kind, set()
        return True


def make_engine(dim: int, kind: str, params: dict[str, Any] | None = None,
                source: Any = None) -> Any:
    """The engine of a collection: a :class:`VectorEngine`, or for ``ivfpq`` a
    :class:`~jointspace.index.compressed.CompressedEngine` reading vectors from ``source``."""
    if kind == "ivfpq":
        from jointspace.index.compressed import CompressedEngine

        return CompressedEngine(dim, source, **(params or {}))
    return VectorEngine(dim, kind, **(params or {}))

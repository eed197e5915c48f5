"""The compressed engine (``ivfpq``): product-quantized codes in memory, the vectors in the
table, and exact re-ranking of the candidates with the vectors read back from it.

A collection too large for its vectors to sit in memory (100M × 256 float32 is 100 GB) keeps
only an IVF-PQ index: ``m`` bytes of codes per item (``nbits`` 8) and its int64 key, 72 bytes
an item at d 256 against 1,024 for the vector. A query asks the codes for ``rerank`` × k
candidates, reads those candidates' vectors from the table by key (:class:`VectorSource`),
and ranks them by their exact inner products, so the scores returned are the true scores
and the ranking is exact among the candidates (measured by ``benchmarks/bench_scale.py``:
at 1M × 256, recall@10 against the exact top 10 and memory against the flat index).

Until a collection holds enough items to train the quantizers (:func:`trainable`), the
engine keeps its few vectors in memory and searches them exactly, as the exact engine does;
it trains when the threshold is passed and trains again from the table whenever the
collection has doubled since (its cells and codebooks then fit the data it holds).

A filtered search reads the vectors of the items that pass the filter and searches them
exactly, up to :data:`EXACT_FILTER_LIMIT` items; a filter passing more is searched through
the codes restricted to those keys, then re-ranked (approximate, like an unfiltered search).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from jointspace.index.engine import check_params, exact_search

TRAIN_PER_CENTROID = 39  # k-means trains on ≥ 39 vectors a centroid (FAISS warns below)
TRAIN_SAMPLE_PER_CENTROID = 64  # and on at most 64 (a sample read from the table)
EXACT_FILTER_LIMIT = 50_000
RERANK_BLOCK = 256  # queries re-ranked together: 256 × (rerank · k) × d floats at a time


class VectorSource(Protocol):
    """Where a compressed engine reads vectors: the collection's table."""

    def fetch(self, keys: np.ndarray) -> np.ndarray:
        """(m, d) vectors of ``keys`` (distinct, all present), in their order."""

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every item as (keys (b,), vectors (b, d)) batches."""

    def sample(self, size: int) -> np.ndarray:
        """At most ``size`` vectors drawn evenly from the items, (≤ size, d)."""


def resolved_nlist(params: dict[str, int], n: int) -> int:
    """The number of IVF cells for ``n`` items (nlist 0: 4·√n)."""
    return max(1, min(params["nlist"] or int(4 * np.sqrt(n)), n))


def trainable(params: dict[str, int], n: int) -> bool:
    """Whether ``n`` items are enough to train the cells and the codebooks."""
    return n >= TRAIN_PER_CENTROID * max(resolved_nlist(params, n), 2 ** params["nbits"])


def subquantizers(params: dict[str, int], dim: int) -> int:
    """PQ's m: the parameter, or (0) the largest divisor of ``dim`` up to dim / 4: a code
    byte for every 4 dimensions, 1/16 of the float32 vector (at 1M × 256, m 64 puts 99.6%
    of the exact top 10 among 100 candidates, m 32 95.4%: ``benchmarks/scale_search.py``)."""
    if params["m"]:
        if dim % params["m"]:
            raise ValueError(f"engine parameter m={params['m']} does not divide the vector "
                             f"dimension {dim}; expected a divisor of {dim}")
        return params["m"]
    return max(m for m in range(1, max(dim // 4, 1) + 1) if dim % m == 0)


class CompressedEngine:
    """k-NN by inner product over IVF-PQ codes, re-ranked exactly from a :class:`VectorSource`.

    Args:
        dim: vector dimension d.
        source: where the vectors live (the collection's table).
        params: nlist (0: 4·√n), nprobe, m (0: see :func:`subquantizers`), nbits, rerank.
    """

    kind = "ivfpq"
    in_memory = False

    def __init__(self, dim: int, source: VectorSource, **params: Any) -> None:
        self.dim = int(dim)
        self.params = check_params(self.kind, params)
        subquantizers(self.params, self.dim)
        self.source = source
        self.keys = np.zeros(0, np.int64)  # the exact part: items before training
        self.vectors = np.zeros((0, self.dim), np.float32)
        self._index: Any = None
        self._trained_on = 0

    @property
    def active_kind(self) -> str:
        """``ivfpq`` once trained, ``exact`` before."""
        return self.kind if self._index is not None else "exact"

    def __len__(self) -> int:
        return int(self._index.ntotal) if self._index is not None else len(self.keys)

    # --- building and changing -------------------------------------------------------------
    def reset(self, keys: Any, vectors: Any) -> None:
        """Hold ``keys`` and ``vectors`` exactly (a collection too small to train)."""
        self._index, self._trained_on = None, 0
        self.keys = np.ascontiguousarray(keys, np.int64).reshape(-1)
        self.vectors = np.ascontiguousarray(vectors, np.float32).reshape(len(self.keys),
                                                                         self.dim)
        if trainable(self.params, len(self.keys)):
            self.train(len(self.keys))

    def train(self, n: int) -> None:
        """Train the cells and codebooks on a sample of the source's ``n`` vectors and
        encode every item (read in batches from the source)."""
        import faiss

        nlist = resolved_nlist(self.params, n)
        size = TRAIN_SAMPLE_PER_CENTROID * max(nlist, 2 ** self.params["nbits"])
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFPQ(quantizer, self.dim, nlist,
                                 subquantizers(self.params, self.dim), self.params["nbits"],
                                 faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(self.source.sample(size), np.float32))
        for keys, vectors in self.source.batches():
            index.add_with_ids(np.ascontiguousarray(vectors, np.float32), keys)
        self._index, self._quantizer = index, quantizer  # the index borrows its quantizer
        self._trained_on = int(index.ntotal)
        self.keys, self.vectors = np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)

    def add(self, keys: Any, vectors: Any) -> None:
        """Append items (their keys new; already written to the source)."""
        keys = np.ascontiguousarray(keys, np.int64).reshape(-1)
        vectors = np.ascontiguousarray(vectors, np.float32).reshape(len(keys), self.dim)
        if self._index is None:
            self.keys = np.concatenate([self.keys, keys])
            self.vectors = np.concatenate([self.vectors, vectors])
            if trainable(self.params, len(self.keys)):
                self.train(len(self.keys))
        elif self._index.ntotal + len(keys) >= 2 * self._trained_on:
            self.train(self._index.ntotal + len(keys))  # doubled: train to fit it again
        else:
            self._index.add_with_ids(vectors, keys)

    def remove(self, keys: Any) -> None:
        """Drop the items with these keys (unknown keys are ignored)."""
        import faiss

        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if self._index is not None:
            self._index.remove_ids(faiss.IDSelectorBatch(keys))
            return
        keep = ~np.isin(self.keys, keys)
        self.keys, self.vectors = self.keys[keep], self.vectors[keep]

    # --- reading ---------------------------------------------------------------------------
    def vectors_of(self, keys: Any) -> np.ndarray:
        """The stored (m, d) vectors of ``keys`` (which must exist), in their order."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if self._index is None:
            order = np.argsort(self.keys)
            return self.vectors[order[np.searchsorted(self.keys, keys, sorter=order)]]
        distinct, back = np.unique(keys, return_inverse=True)
        return self.source.fetch(distinct)[back]

    def search(self, queries: Any, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """The k best items per query, as :meth:`VectorEngine.search`: ``(scores, keys)``,
        each (q, k'), best first, scores exact; rows with fewer results padded with key -1."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {q.shape[1]}; expected {self.dim}")
        if self._index is None:
            if allowed is not None:
                mask = np.isin(self.keys, np.asarray(allowed, dtype=np.int64))
                return exact_search(q, k, self.keys[mask], self.vectors[mask])
            return exact_search(q, k, self.keys, self.vectors)
        if allowed is not None and len(allowed) <= EXACT_FILTER_LIMIT:
            allowed = np.unique(np.asarray(allowed, dtype=np.int64))
            return exact_search(q, k, allowed, self.source.fetch(allowed))
        return self._search_codes(q, min(k, len(self)), allowed)

    def _search_codes(self, q: np.ndarray, k: int, allowed: np.ndarray | None
                      ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        sp = faiss.SearchParametersIVF(nprobe=self.params["nprobe"])
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            sp.sel = selector
        candidates = min(len(self), k * self.params["rerank"])
        _, found = self._index.search(q, candidates, params=sp)
        scores = np.full((len(q), k), -np.inf, np.float32)
        keys = np.full((len(q), k), -1, np.int64)
        for start in range(0, len(q), RERANK_BLOCK):
            block = found[start : start + RERANK_BLOCK]
            distinct, pos = np.unique(block, return_inverse=True)
            pos = pos.reshape(block.shape)
            vectors = np.zeros((len(distinct), self.dim), np.float32)
            real = distinct >= 0
            vectors[real] = self.source.fetch(distinct[real])
            exact = np.einsum("qd,qcd->qc", q[start : start + RERANK_BLOCK], vectors[pos])
            exact[block < 0] = -np.inf
            kk = min(k, exact.shape[1])
            top = np.argsort(-exact, axis=1, kind="stable")[:, :kk]
            scores[start : start + len(block), :kk] = np.take_along_axis(exact, top, 1)
            keys[start : start + len(block), :kk] = np.take_along_axis(block, top, 1)
        keys[~np.isfinite(scores)] = -1
        return scores, keys

    # --- persistence -----------------------------------------------------------------------
    def save_ann(self, path: str | os.PathLike) -> bool:
        """Write the trained index (codes and keys) to ``path``; False before training."""
        import faiss

        from jointspace.atomic import atomic_write

        if self._index is None:
            return False
        data = faiss.serialize_index(self._index)
        atomic_write(path, lambda fh: fh.write(data.tobytes()))
        return True

    def load_ann(self, path: str | os.PathLike, n: int) -> bool:
        """Use the index saved at ``path`` if it holds ``n`` items of this dimension."""
        import faiss

        if not os.path.isfile(path):
            return False
        index = faiss.deserialize_index(np.fromfile(path, dtype=np.uint8))
        if index.ntotal != n or index.d != self.dim or not isinstance(index, faiss.IndexIVFPQ):
            return False
        self._index, self._trained_on = index, n
        self.keys, self.vectors = np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return True

    def memory_bytes(self) -> int:
        """Bytes the engine holds: the serialized index (codes, keys, cells, codebooks), or
        the exact part's keys and vectors."""
        import faiss

        if self._index is None:
            return self.keys.nbytes + self.vectors.nbytes
        return int(faiss.serialize_index(self._index).nbytes)


FETCH_KEYS = 20_000  # keys per SQL query when reading vectors back


class TableVectors:
    """A :class:`VectorSource` over a LanceDB table with ``key`` and ``vector`` columns.

    Args:
        table: () → the table (at the version being served).
        dim: the vector dimension.
    """

    def __init__(self, table: Any, dim: int) -> None:
        self._table, self.dim = table, int(dim)

    def _vectors(self, data: Any) -> np.ndarray:
        if not data.num_rows:
            return np.zeros((0, self.dim), np.float32)
        column = data.column("vector")
        if hasattr(column, "combine_chunks"):  # a table's chunked column, not a batch's
            column = column.combine_chunks()
        flat = column.values.to_numpy(zero_copy_only=False)
        return flat.reshape(data.num_rows, self.dim)

    def fetch(self, keys: np.ndarray) -> np.ndarray:
        """(m, d) vectors of distinct ``keys``, in their order.

        Raises:
            KeyError: a key not in the table.
        """
        keys = np.asarray(keys, dtype=np.int64)
        out = np.empty((len(keys), self.dim), np.float32)
        for start in range(0, len(keys), FETCH_KEYS):
            part = keys[start : start + FETCH_KEYS]
            where = f"key IN ({', '.join(map(str, part.tolist()))})"
            data = self._table().search().where(where).select(["key", "vector"]) \
                .limit(None).to_arrow()
            got = data.column("key").to_numpy()
            order = np.argsort(got)
            pos = np.searchsorted(got, part, sorter=order)
            pos = np.minimum(pos, max(len(got) - 1, 0))
            if len(got) != len(part) or not np.array_equal(got[order[pos]], part):
                raise KeyError(f"{len(part) - len(got)} key(s) are not in the table")
            out[start : start + len(part)] = self._vectors(data)[order[pos]]
        return out

    def batches(self, rows: int = 65_536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every row as (keys, vectors) batches of at most ``rows``."""
        reader = self._table().search().select(["key", "vector"]).limit(None) \
            .to_batches(rows)
        for batch in reader:
            yield batch.column("key").to_numpy(), self._vectors(batch)

    def sample(self, size: int) -> np.ndarray:
        """At most ``size`` vectors at evenly drawn offsets (seeded), (≤ size, d)."""
        table = self._table()
        n = table.count_rows()
        if n <= size:
            return np.concatenate([v for _, v in self.batches()] or
                                  [np.zeros((0, self.dim), np.float32)])
        offsets = np.sort(np.random.default_rng(0).choice(n, size, replace=False))
        return self._vectors(table.take_offsets(offsets.tolist()).select(["vector"])
                             .to_arrow())

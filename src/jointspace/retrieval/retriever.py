"""`Retriever`: a pipeline plus an index. Queries of any view (text, an image, a vector, or a
weighted mix of them with negatives) are embedded by the pipeline and searched in one of the
index's collections.

    from jointspace import Retriever

    r = Retriever.load("runs/index")
    r.search(text="a red apple", k=10)
    r.search(text=["golden retriever", "-water"], image="pool.jpg",
             weights={"text": 1.0, "image": 0.5})
    r.search(image="cat.png", collection="captions")   # the captions that fit an image
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.retrieval.build import normalized

MODALITIES = ("text", "image", "vector", "item")


def split_terms(text: str | Sequence[str]) -> tuple[list[str], list[str]]:
    """Text terms into (positive, negative); a term starting with "-" is a negative
    (``"-water"`` → ``"water"``)."""
    terms = [text] if isinstance(text, str) else list(text)
    positive, negative = [], []
    for term in terms:
        if not isinstance(term, str) or not term.strip().lstrip("-").strip():
            raise ValueError(f"text query term {term!r} is empty; expected words")
        term = term.strip()
        if term.startswith("-"):
            negative.append(term[1:].strip())
        else:
            positive.append(term)
    return positive, negative


def signed_sum(embedded: np.ndarray, n_positive: int) -> np.ndarray:
    """The sum of (m, k) embedded terms, the first ``n_positive`` added, the rest
    subtracted."""
    signs = np.where(np.arange(len(embedded)) < n_positive, 1.0, -1.0)[:, None]
    return (signs * embedded).sum(0)


def combine(parts: Mapping[str, np.ndarray], weights: Mapping[str, float] | None) -> np.ndarray:
    """The unit vector of Σ weights[modality] · part (each weight 1 by default).

    Raises:
        ValueError: no parts, a weight for an unknown modality, or a zero sum.
    """
    weights = dict(weights or {})
    unknown = set(weights) - set(MODALITIES)
    if unknown:
        raise ValueError(f"weights for {', '.join(sorted(unknown))}; "
                         f"expected keys {', '.join(MODALITIES)}")
    if not parts:
        raise ValueError("empty query: give text=, image= or vector=")
    total = np.sum([weights.get(name, 1.0) * part for name, part in parts.items()], axis=0)
    if not np.linalg.norm(total) > 1e-12:
        raise ValueError("the query parts cancel out (a zero vector); change the weights")
    return normalized(total[None])[0]


class Retriever:
    """Search an index with a pipeline.

    Args:
        pipeline: a fitted :class:`jointspace.Pipeline` (the one that made the index's
            vectors: the fingerprints must match; or its ONNX export).
        index: an :class:`jointspace.index.Index`.
    Raises:
        ValueError: the index was built by another pipeline.
    """

    def __init__(self, pipeline: Any, index: Any) -> None:
        accepted = (pipeline.fingerprint, getattr(pipeline, "source_fingerprint", None))
        if index.fingerprint is not None and index.fingerprint not in accepted:
            raise ValueError(
                f"index {index.path} was built by pipeline {str(index.fingerprint)[:12]}…; "
                f"this pipeline is {str(pipeline.fingerprint)[:12]}…: its vectors would not "
                "be comparable. Search with the index's own pipeline (Retriever.load) or "
                "rebuild the index"
            )
        self.pipeline, self.index = pipeline, index

    @classmethod
    def load(cls, index_path: str | os.PathLike,
             pipeline: str | os.PathLike | None = None) -> Retriever:
        """The retriever of the index at ``index_path`` (opened read-only: from its read
        snapshots, without LanceDB, when it has them), with the pipeline saved inside it (or
        the one at ``pipeline``)."""
        from jointspace.index import Index
        from jointspace.pipeline import Pipeline

        index = Index.open(index_path, read_only=True)
        pipeline_dir = Path(pipeline) if pipeline is not None else Path(index_path) / "pipeline"
        return cls(Pipeline.load(pipeline_dir), index)

    @property
    def root(self) -> Path | None:
        """The folder the indexed paths are relative to, if any."""
        root = self.index.manifest.get("source", {}).get("root")
        return Path(root) if root else None

    def file_of(self, hit: Mapping[str, Any]) -> Path | None:
        """The absolute file of a hit (its ``path`` under the index's root)."""
        path = hit.get("path")
        if not path:
            return None
        return (self.root / path) if self.root is not None else Path(path)

    # --- queries ---------------------------------------------------------------------------
    def embed(self, view: str, items: Any) -> np.ndarray:
        """(m, k) unit vectors of ``items`` of one pipeline view."""
        return normalized(self.pipeline.transform_view(view, items))

    def query_vector(self, text: str | Sequence[str] | None = None, image: Any = None,
                     vector: Any = None,
                     weights: Mapping[str, float] | None = None) -> np.ndarray:
        """One (k,) unit query vector from any mix of text terms (``-term`` subtracts),
        images (a path, an array, or a list of them) and raw vectors, each part weighted by
        ``weights[modality]`` (default 1).

        Raises:
            ValueError: no query part, an empty term, an unknown weight, or a zero query.
        """
        parts: dict[str, np.ndarray] = {}
        if text is not None:
            positive, negative = split_terms(text)
            parts["text"] = signed_sum(self.embed("text", positive + negative), len(positive))
        if image is not None:
            images = image if isinstance(image, list | tuple) else [image]
            if not images:
                raise ValueError("image query is an empty list")
            parts["image"] = self.embed("image", list(images)).sum(0)
        if vector is not None:
            parts["vector"] = self.check_vector(vector).sum(0)
        return combine(parts, weights)

    def check_vector(self, vector: Any) -> np.ndarray:
        """(m, k) unit vectors from a (k,) or (m, k) array of query vectors."""
        v = np.atleast_2d(np.asarray(vector, dtype=np.float32))
        dim = self.index.collection(None).dim
        if v.ndim != 2 or v.shape[1] != dim or not np.isfinite(v).all():
            raise ValueError(f"query vector has shape {v.shape}; expected ({dim},) finite")
        return normalized(v)

    def search(self, text: str | Sequence[str] | None = None, image: Any = None,
               vector: Any = None, *, weights: Mapping[str, float] | None = None,
               k: int = 10, filter: Any = None,
               collection: str | None = None) -> list[dict[str, Any]]:
        """The k best items of a collection (the first, ``images``, by default) for one query
        (see :meth:`query_vector`), among those passing ``filter`` (a LanceDB SQL clause or
        a column → value mapping).

        Returns:
            dicts best first: ``id``, ``key``, ``score`` (cosine), ``path``, ``caption``,
            ``label``, ``file`` (absolute path or None) and the stored file stat.
        """
        q = self.query_vector(text, image, vector, weights)
        return self.search_vectors(q[None], k=k, filter=filter, collection=collection)[0]

    def search_vectors(self, queries: Any, *, k: int = 10, filter: Any = None,
                       collection: str | None = None) -> list[list[dict[str, Any]]]:
        """Search with (q, k) query vectors at once (one list of hits per query)."""
        results = self.index.collection(collection).search(queries, k=k, filter=filter)
        for hits in results:
            for hit in hits:
                file = self.file_of(hit)
                hit["file"] = str(file) if file is not None else None
        return results

    def duplicates(self, threshold: float = 0.95, *, collection: str | None = None,
                   k: int = 10, batch: int = 4096) -> list[tuple[str, str, float]]:
        """Pairs of items of a collection at cosine similarity ≥ ``threshold`` (each pair
        once, among each item's k nearest), most similar first: ``(id_a, id_b, score)``."""
        coll = self.index.collection(collection)
        pairs: dict[tuple[int, int], float] = {}
        for keys, vectors in coll.vector_batches(batch):
            scores, found = coll.engine.search(vectors, k + 1)
            for key, row_scores, row_keys in zip(keys, scores, found):
                for score, other in zip(row_scores, row_keys):
                    if other >= 0 and other != key and score >= threshold:
                        pair = (min(int(key), int(other)), max(int(key), int(other)))
                        pairs[pair] = max(pairs.get(pair, -1.0), float(score))
        ordered = sorted(pairs.items(), key=lambda kv: -kv[1])
        ids = {row["key"]: row["id"] for row in coll.rows(sorted({k for p in pairs for k in p}))
               if row is not None}
        return [(ids[a], ids[b], s) for (a, b), s in ordered]

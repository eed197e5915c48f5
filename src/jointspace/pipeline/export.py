"""Export a fitted pipeline to ONNX: a new, complete pipeline directory that
:meth:`Pipeline.load`, the :class:`~jointspace.retrieval.Retriever` and the server read as any
other, and whose exported views run with ONNX Runtime alone (torch is never imported).

    export_pipeline(Pipeline.load("runs/p"), "runs/p-onnx", probes=test, views=["text"])

For each exported view:

- its encoder chain: ``minilm`` becomes ``onnx-minilm`` and ``efficientnet`` (also inside a
  concatenation) ``onnx-efficientnet``, each holding its ONNX model file (fp32; with
  ``int8``, minilm's weights stored as int8 and EfficientNet's statically quantized
  recipe);
  encoders that need no torch (tf-idf, HOG, colour histograms, token ids…) are kept as they
  are; a torch-only encoder (``torch:<path>``, ``hf:<path>``) is an error;
- the model's view: one ONNX graph (:mod:`jointspace.models.deep.export`) held by an
  :class:`~jointspace.models.onnx_towers.OnnxTowers` model.

Views not exported keep their encoders; embedding them is an error naming the view (the
model has no graph for it). The export is checked before it is written: each exported view's
embeddings of the probe items (real items of the view) against the original pipeline's, by
cosine per item; below ``min_cosine`` (0.999 fp32, 0.99 int8) nothing is written. The figures
and sizes are recorded in the manifest's ``metadata["export"]`` with the original pipeline's
fingerprint, so an index built by the original accepts the export.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder
from jointspace.pipeline.chains import spec_of

#: the least cosine per probe item between the export's and the original's embeddings
MIN_COSINE = {"fp32": 0.999, "int8": 0.99}
#: encoders that run only on torch and have no ONNX replacement here
TORCH_ONLY = ("torch", "hf")


def _exported_encoder(view: str, encoder: Encoder, int8: bool) -> Encoder:
    """The encoder an exported view runs in place of ``encoder`` (itself when it needs no
    torch)."""
    from jointspace.encoders import onnx_files as of
    from jointspace.encoders.concat import ConcatEncoder

    if isinstance(encoder, ConcatEncoder):
        parts = [_exported_encoder(view, p, int8) for p in encoder._parts()]
        out = ConcatEncoder([p.config() for p in parts])
        out.encoders_ = parts
        return out
    if encoder.name == "minilm":
        model, tokenizer, max_len = of.minilm_model_bytes(encoder, int8)
        held = of.OnnxMiniLMEncoder(max_len, int(encoder.batch_size),
                                    int(encoder.max_batch_tokens), encoder.n_threads)
        return of.with_model(held, model, tokenizer=tokenizer)
    if encoder.name == "efficientnet":
        held = of.OnnxEfficientNetEncoder(int(encoder.size), encoder.resize,
                                          int(encoder.batch_size), encoder.n_threads)
        return of.with_model(held, of.efficientnet_model_bytes(encoder, int8))
    if encoder.name in TORCH_ONLY:
        raise ValueError(f"view {view!r}: encoder {spec_of(encoder)!r} runs on torch and has "
                         "no ONNX export; export the other views (--view) or use another "
                         "encoder")
    return encoder


def _encoders_mb(chain: Sequence[Encoder]) -> float:
    """MB of the model files a chain holds (its ``onnx-*`` encoders, in concatenations too)."""
    total = 0.0
    for encoder in chain:
        parts = encoder._parts() if hasattr(encoder, "_parts") else [encoder]
        total += sum(getattr(p, "model_mb", 0.0) for p in parts)
    return total


def _probe_items(probes: Any, view: str, n: int) -> Any:
    """The first ``n`` observed items of ``view`` in ``probes`` (a MultiView or a dict)."""
    from jointspace.data.multiview import MultiView

    if isinstance(probes, MultiView):
        if view not in probes.view_names:
            raise ValueError(f"the probe items have no view {view!r}; they have "
                             f"{probes.view_names}")
        rows = np.flatnonzero(probes.observed(view))[:n]
        items = probes[view]
        return items[rows] if isinstance(items, np.ndarray) else [items[i] for i in rows]
    if not isinstance(probes, Mapping) or view not in probes:
        raise ValueError(f"probes must be a MultiView or a dict with view {view!r}; got a "
                         f"{type(probes).__name__}")
    items = probes[view]
    return items[:n]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``a`` with the same row of ``b``."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-30)


def export_pipeline(pipeline: Any, out: str | os.PathLike, probes: Any, *,
                    views: Sequence[str] | None = None, int8: bool = False,
                    n_probes: int = 64, min_cosine: float | None = None,
                    fmt: str = "onnx") -> Path:
    """Write the ONNX export of ``pipeline`` to directory ``out`` (atomically).

    Args:
        pipeline: a fitted (or loaded) :class:`~jointspace.pipeline.Pipeline`.
        out: the export's directory (a new pipeline directory).
        probes: real items to check the export on: a MultiView or a dict view → items
            (captions, image paths or arrays, numeric rows) with every exported view.
        views: the views to export (default: all).
        int8: int8 weights (the towers dynamically quantized, minilm's weights int8,
            EfficientNet's static recipe).
        n_probes: how many probe items per view are compared.
        min_cosine: the least cosine per item accepted (default 0.999, int8 0.99).
        fmt: the format; only "onnx".
    Returns:
        The export's path.
    Raises:
        ValueError: an unknown view or format, a pipeline, encoder or model that cannot be
            exported (named), or an export below ``min_cosine`` on a view (nothing written).
    """
    from jointspace.models.deep.export import export_view
    from jointspace.models.onnx_towers import OnnxTowers
    from jointspace.pipeline.core import Pipeline, _supervised

    if fmt != "onnx":
        raise ValueError(f"export format {fmt!r}; expected 'onnx'")
    pipeline._check_fitted()
    if _supervised(pipeline.model):
        raise ValueError(f"a {type(pipeline.model).__name__} pipeline cannot be exported; "
                         "export a joint model's pipeline")
    views = list(pipeline.view_names if views is None else views)
    unknown = [v for v in views if v not in pipeline.view_names]
    if unknown or not views:
        raise ValueError(f"view {unknown[0] if unknown else None!r} is not in the pipeline; "
                         f"its views are {pipeline.view_names}")
    if int(n_probes) < 1:
        raise ValueError(f"n_probes is {n_probes}; expected at least 1")
    precision = "int8" if int8 else "fp32"
    floor = MIN_COSINE[precision] if min_cosine is None else float(min_cosine)

    items = {v: _probe_items(probes, v, int(n_probes)) for v in views}
    chains = {v: [_exported_encoder(v, e, int8) for e in chain] if v in views else chain
              for v, chain in pipeline.encoders_.items()}
    graphs = {v: export_view(pipeline.model, v, pipeline._encode(v, items[v]), int8)
              for v in views}
    exported = Pipeline.__new__(Pipeline)
    exported.encoders = {v: [spec_of(e) for e in chain] for v, chain in chains.items()}
    exported.encoders_ = chains
    exported.model = OnnxTowers.from_graphs(pipeline.model, graphs)
    exported.cache_dir = None
    exported.dims_ = dict(pipeline.dims_)
    exported.train_info_ = dict(pipeline.train_info_)
    exported.metrics_ = dict(pipeline.metrics_)

    parity = {}
    for v in views:
        cos = cosines(pipeline.transform_view(v, items[v]), exported.transform_view(v, items[v]))
        parity[v] = {"cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
                     "n_probes": len(cos), "encoders_mb": round(_encoders_mb(chains[v]), 3),
                     "tower_mb": round(exported.model.graph_mb(v), 3)}
        if cos.min() < floor:
            raise ValueError(
                f"view {v!r}: the {precision} export's embeddings differ from the original's "
                f"(cosine per item min {cos.min():.4f}, mean {cos.mean():.4f}; expected ≥ "
                f"{floor}); nothing written" + ("; try it without --int8" if int8 else ""))
    manifest = getattr(pipeline, "manifest_", {}) or {}
    record = {"format": fmt, "precision": precision, "views": views,
              "source_fingerprint": pipeline.fingerprint,
              "source_model": type(pipeline.model).__name__, "min_cosine": floor,
              "parity": parity}
    metadata = {**manifest.get("metadata", {}), "export": record}
    return exported.save(out, metadata=metadata)

"""`OnnxTowers`: a joint model whose views run as ONNX graphs under ONNX Runtime, never torch.

``jointspace export`` makes one from a fitted model (:mod:`jointspace.models.deep.export`):
each exported view's whole ``transform_view`` — the standardization of its inputs, its
tower, and the model's last step (the dual encoder's L2 normalization, the deep CCA head's
projection, a linear model's projection) — is one float32 graph (m, d_view) → (m, k). The
graphs' bytes are the model's fitted state (saved with safetensors like every model's
arrays), so the saved directory is self-contained. A view left out of the export has no
graph: embedding it is an error that says so.

``fuse`` is the mean of the views' embeddings (the base contract's), also for a model whose
own fusion differs (a multimodal VAE's joint posterior).
"""

from __future__ import annotations

import hashlib
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from jointspace.models.base import JointModel
from jointspace.models.missing_views import MISSING_CONSTRAINT


class OnnxTowers(JointModel):
    """Per-view ONNX graphs of a trained joint model (made by export, not fitted).

    Args:
        missing: the exported model's strategy for views that samples lack (its fill, if
            any, is kept as ``imputer_``).
        n_threads: ONNX Runtime intra-op threads per graph (None: its default).

    Fitted attributes: ``view_names_``, ``n_views_``, ``n_features_``, ``n_components_``,
    ``graphs_`` (view name → the ONNX model's bytes as uint8, for the exported views),
    ``source_class_`` (the class it was exported from), ``canonical_correlations_``.
    """

    fits_missing_views: ClassVar[bool] = True  # "mask" and "drop" embed alike
    _parameter_constraints: ClassVar[dict] = {
        "missing": MISSING_CONSTRAINT,
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, missing: str | None = None, n_threads: int | None = None) -> None:
        self.missing = missing
        self.n_threads = n_threads

    @classmethod
    def from_graphs(cls, source: JointModel, graphs: dict[str, bytes],
                    **params: Any) -> OnnxTowers:
        """The exported model of fitted ``source`` with the ONNX ``graphs`` of some of its
        views (view name → model bytes)."""
        unknown = sorted(set(graphs) - set(source.view_names_))
        if unknown:
            raise ValueError(f"graph for view {unknown[0]!r}; the views are "
                             f"{source.view_names_}")
        model = cls(missing=source.missing_strategy, **params)
        model._set_view_info(list(source.view_names_), list(source.n_features_))
        model.n_components_ = int(source.n_components_)
        model.graphs_ = {v: np.frombuffer(g, dtype=np.uint8).copy() for v, g in graphs.items()}
        model.source_class_ = type(source).__name__
        model.canonical_correlations_ = np.asarray(
            getattr(source, "canonical_correlations_", np.zeros(0)), dtype=np.float64)
        model.imputer_ = getattr(source, "imputer_", None)
        return model

    def _fit_arrays(self, arrays: list[np.ndarray], mask: np.ndarray) -> None:
        raise ValueError("OnnxTowers is made by exporting a fitted model (`jointspace "
                         "export`), not fitted; fit the original model and export it")

    def _check_loaded_state(self) -> None:
        super()._check_loaded_state()
        graphs = getattr(self, "graphs_", None)
        if not isinstance(graphs, dict):
            raise ValueError("graphs_ is not a set of named byte arrays")
        for view, graph in graphs.items():
            if view not in self.view_names_:
                raise ValueError(f"graphs_ holds view {view!r}; the views are "
                                 f"{self.view_names_}")
            if graph.dtype != np.uint8 or graph.ndim != 1:
                raise ValueError(f"graphs_[{view!r}] is not a byte array")

    @property
    def n_components(self) -> int | None:
        """k, the joint space's width (the exported model's; None before export)."""
        return getattr(self, "n_components_", None)

    @property
    def exported_views(self) -> list[str]:
        """The views that have a graph, in the model's order."""
        return [v for v in self.view_names_ if v in self.graphs_]

    def graph_mb(self, view: str) -> float:
        """Size of a view's graph in MB (0 for a view that was not exported)."""
        graph = self.graphs_.get(view)
        return 0.0 if graph is None else graph.nbytes / 1e6

    def _session(self, view: str) -> Any:
        from jointspace.encoders.loading import cached_model, onnx_cpu_session

        graph = self.graphs_.get(view)
        if graph is None:
            raise ValueError(
                f"view {view!r} was not exported to ONNX (this export holds "
                f"{self.exported_views or 'no view'}); export it too (jointspace export "
                f"--view {view}) or use the original pipeline")
        digest = hashlib.sha256(graph.tobytes()).hexdigest()
        return cached_model("onnx-tower", f"{digest}:{self.n_threads}",
                            lambda: onnx_cpu_session(graph.tobytes(), self.n_threads))

    def _transform_array(self, i: int, X: np.ndarray) -> np.ndarray:
        session = self._session(self.view_names_[i])
        name = session.get_inputs()[0].name
        out = session.run(None, {name: np.ascontiguousarray(X, dtype=np.float32)})[0]
        return out.astype(np.float64)

"""`Pipeline`: raw items → per-view encoder chains → one joint model, saved as one directory.

A pipeline is what a user trains once and queries for ever after: captions, image paths or
arrays go in, joint-space vectors come out, with the same encoders (fitted state included)
that the model was trained on::

    from jointspace import Pipeline
    from jointspace.models import ContrastiveDualEncoder

    pipe = Pipeline({"text": "minilm", "image": "efficientnet+color-hist"},
                    ContrastiveDualEncoder(loss="siglip"))
    pipe.fit(train)                                    # a MultiView of raw items
    pipe.save("runs/search")                           # manifest + encoders/ + model/
    pipe = Pipeline.load("runs/search")
    z = pipe.transform_view("text", ["a red apple"])   # (1, k)

Directory layout (safetensors + JSON, written atomically, never a pickle)::

    manifest.json                 versions, views, encoder specs, dimensions, training data
                                  fingerprint and size, test metrics, sha256 of every file
    encoders/<v>-<view>/<i>-<name>/   one encoder directory per chain step (config + arrays)
    model/                        the joint model (config + arrays)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.data.multiview import MultiView
from jointspace.encoders.base import load_encoder, save_encoder
from jointspace.models.base import JointModel
from jointspace.models.loading import load_model
from jointspace.persistence import atomic_directory
from jointspace.pipeline.chains import ChainSpec, make_chain, run_chain, spec_of
from jointspace.pipeline.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    data_fingerprint,
    read_manifest,
    safe_name,
    sha256_file,
    versions,
)


class Pipeline:
    """Encoder chains per view plus one joint model: raw items in, joint-space vectors out.

    Args:
        encoders: view name → encoder chain, in the order of the model's views. A chain is a
            spec string (``"minilm"``, ``"efficientnet+color-hist"``; steps separated by
            ``">"``: ``"hog+color-hist>standardize"``), an :class:`Encoder`, a list of those,
            or None for a numeric view used as it is.
        model: an unfitted :class:`JointModel` (``ContrastiveDualEncoder(...)``, ``CCA(...)``)
            or a model spec (``"dual-encoder:loss=siglip"``, see
            :func:`jointspace.models.factory.make_model`), or a fusion head
            (``FusionClassifier(...)``, ``FusionRegressor``, ``FusionEmbedder``), trained on
            the data's labels and used through :meth:`predict` and :meth:`fuse`.
        cache_dir: optional feature cache (each item's features stored on disk per encoder
            config and state); a runtime setting, not saved.

    Fitted attributes: ``encoders_`` (view → list of fitted encoders), ``model`` (fitted),
    ``dims_`` (view → feature width d_view), ``train_info_`` (``n_samples``,
    ``fingerprint``, ``source``), ``metrics_`` (test figures of :meth:`evaluate`, if run).
    """

    def __init__(
        self,
        encoders: Mapping[str, ChainSpec],
        model: JointModel | str,
        *,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        if not isinstance(encoders, Mapping) or not encoders:
            raise ValueError(
                "encoders must be a dict view → encoder spec, e.g. "
                "{'text': 'minilm', 'image': 'efficientnet'}"
            )
        self.encoders = dict(encoders)
        if isinstance(model, str):
            from jointspace.models.factory import make_model

            model = make_model(model)
        if not isinstance(model, JointModel) and not _supervised(model):
            raise ValueError(f"model is a {type(model).__name__}; expected a JointModel, a "
                             "fusion head or a model spec")
        self.model = model
        self.cache_dir = cache_dir
        self.metrics_: dict[str, Any] = {}

    # ----------------------------------------------------------------- views
    @property
    def view_names(self) -> list[str]:
        """The pipeline's views, in the model's order."""
        return list(self.encoders)

    def _check_fitted(self) -> None:
        if not hasattr(self, "encoders_"):
            raise ValueError("this Pipeline is not fitted yet; call fit(data) or Pipeline.load")

    def _check_view(self, view: str) -> str:
        if view not in self.encoders:
            raise ValueError(f"view {view!r} is not in this pipeline; views: {self.view_names}")
        return view

    def _encode(self, view: str, items: Any, *, fitting: bool = False) -> np.ndarray:
        """Run view's chain on n items → (n, d_view) float array (fitting each step first
        when ``fitting``)."""
        x = run_chain(self.encoders_[view], items, self.cache_dir, fitting=fitting)
        arr = np.asarray(x, dtype=np.float64 if not self.encoders_[view] else np.float32)
        if arr.ndim != 2:
            raise ValueError(
                f"view {view!r} gives features of shape {arr.shape}; expected (n, d): "
                "raw items (captions, paths) need an encoder"
            )
        expected = getattr(self, "dims_", {}).get(view)
        if not fitting and expected is not None and arr.shape[1] != expected:
            raise ValueError(
                f"view {view!r}: the encoders give {arr.shape[1]} features; the model was "
                f"trained on {expected}"
            )
        return arr

    def _featurize(self, data: MultiView, *, fitting: bool = False) -> MultiView:
        """``data``'s pipeline views as features (observed rows encoded, the others NaN)."""
        if not isinstance(data, MultiView):
            raise ValueError(f"data is a {type(data).__name__}; expected a MultiView")
        views = {}
        for name in self.view_names:
            items, observed = data[name], data.observed(name)
            if observed.all():
                views[name] = self._encode(name, items, fitting=fitting)
                continue
            rows = np.flatnonzero(observed)
            part = items[rows] if isinstance(items, np.ndarray) else [items[i] for i in rows]
            X = self._encode(name, part, fitting=fitting)
            full = np.full((data.n_samples, X.shape[1]), np.nan)
            full[rows] = X
            views[name] = full
        mask = data.mask[:, [data.view_names.index(v) for v in self.view_names]]
        return MultiView(
            views, mask=mask, labels=data.labels, groups=data.groups, ids=data.ids, meta=data.meta
        )

    # -------------------------------------------------------------- contract
    def fit(self, data: MultiView, **fit_params: Any) -> Pipeline:
        """Fit each view's encoders on its training items, then the model on the features.

        Args:
            data: a MultiView with (at least) the pipeline's views, raw or numeric; groups
                (several captions of one image) and the mask are passed to the model.
            **fit_params: passed to ``model.fit`` (e.g. ``teacher=`` of the dual encoder).
        Returns:
            self.
        """
        self.encoders_ = {v: make_chain(v, spec) for v, spec in self.encoders.items()}
        for name in self.view_names:
            data[name]  # noqa: B018 - KeyError naming a missing view
        features = self._featurize(data, fitting=True)
        if _supervised(self.model) and "y" not in fit_params:
            fit_params["y"] = self._targets(data)
        self.model.fit(features, **fit_params)
        self.dims_ = {v: int(features[v].shape[1]) for v in self.view_names}
        self.train_info_ = {
            "n_samples": int(data.n_samples),
            "fingerprint": data_fingerprint(data.select(self.view_names)),
            "source": data.meta.get("source") or data.meta.get("name"),
        }
        self.metrics_ = {}
        return self

    def transform(self, data: MultiView) -> list[np.ndarray]:
        """Every view of ``data`` in the joint space: a list of (n, k) arrays (NaN rows where a
        view is not observed)."""
        self._check_fitted()
        return self.model.transform(self._featurize(data))

    def _targets(self, data: MultiView) -> np.ndarray:
        """A fusion head's targets: the data's labels, by name where a table's label column
        gave codes (each file codes its own classes), as numbers for a regressor.

        Raises:
            ValueError: no labels, or a regressor's labels that are not numbers.
        """
        name = type(self.model).__name__
        if data.labels is None:
            raise ValueError(f"{name} is trained on targets; the data has no labels (name "
                             "the label column)")
        labels, names = data.labels, data.meta.get("label_names")
        if names is not None:
            labels = np.asarray(names, dtype=object)[labels]
        if self.model._task == "regression":
            try:
                return np.asarray(labels, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{name} needs numeric labels; the labels hold "
                                 f"{labels[0]!r}") from None
        return labels.astype(str) if names is not None else labels

    def fuse(self, data: MultiView) -> np.ndarray:
        """One (n, k) vector per sample of ``data``, from the views it has (the model's
        ``fuse``)."""
        self._check_fitted()
        return self.model.fuse(self._featurize(data))

    def predict(self, data: MultiView) -> np.ndarray:
        """A fusion head's predictions for the samples of ``data``: (n,) classes or values.

        Raises:
            ValueError: the model predicts nothing (a joint model).
        """
        self._check_fitted()
        if not hasattr(self.model, "predict"):
            raise ValueError(f"{type(self.model).__name__} makes no predictions; a fusion "
                             "classifier or regressor does")
        return self.model.predict(self._featurize(data))

    def transform_view(self, view: str, items: Any) -> np.ndarray:
        """One view's raw items in the joint space, for queries.

        Args:
            view: a view name.
            items: what the view's first encoder takes: a list of captions, image paths or
                arrays (a single caption or path is one item), or an (m, d) array for a
                numeric view.
        Returns:
            (m, k) array.
        """
        self._check_fitted()
        self._check_view(view)
        if _supervised(self.model):
            raise ValueError(f"{type(self.model).__name__} fuses the views into one vector "
                             "per sample and has no per-view joint space; use fuse or predict")
        if isinstance(items, str | os.PathLike):
            items = [items]
        return self.model.transform_view(view, self._encode(view, items))

    def evaluate(self, test: MultiView, relevance: str | None = None) -> dict[str, Any]:
        """Test figures (retrieval in both directions, correlations, probe) of the pipeline on
        raw test rows; kept in ``metrics_`` and written to the manifest by :meth:`save`.

        Args:
            test: a MultiView with the pipeline's views.
            relevance: "caption", "instance" or "label" (default: "caption" for image–caption
                data, else "instance"; see :mod:`jointspace.metrics.evaluation`).
        """
        from jointspace.metrics.evaluation import evaluate_embeddings, evaluation_rows

        self._check_fitted()
        if _supervised(self.model):  # accuracy (classifier, embedder) or R² (regressor)
            name = "r2" if self.model._task == "regression" else "accuracy"
            score = self.model.score(self._featurize(test), self._targets(test))
            self.metrics_ = {"n_samples": int(test.n_samples), name: float(score)}
            return self.metrics_
        rows = evaluation_rows(test, self.view_names)
        result = evaluate_embeddings(self.view_names, self.transform(rows), rows, relevance)
        self.metrics_ = {"n_samples": int(rows.n_samples), **result}
        return self.metrics_

    def score(self, test: MultiView, relevance: str | None = None) -> float:
        """Mean R@1 (%) over both retrieval directions of the first two views on ``test``."""
        retrieval = self.evaluate(test, relevance)["retrieval"]
        return float(np.mean([scores["R@1"] for scores in retrieval.values()]))

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None) -> Path:
        """Write the pipeline to directory ``path`` atomically (a failed save leaves a previous
        pipeline there intact). ``metadata``: JSON notes kept in the manifest (where the data
        came from, the split). Returns the path."""
        self._check_fitted()
        with atomic_directory(path) as tmp:
            chains = {}
            for v, name in enumerate(self.view_names):
                steps = []
                for i, encoder in enumerate(self.encoders_[name]):
                    rel = f"encoders/{v}-{safe_name(name)}/{i}-{safe_name(encoder.name)}"
                    save_encoder(encoder, tmp / rel)
                    steps.append({"spec": spec_of(encoder), "dir": rel})
                chains[name] = steps
            self.model.save(tmp / "model")
            files = {
                str(p.relative_to(tmp)): sha256_file(p)
                for p in sorted(tmp.rglob("*"))
                if p.is_file()
            }
            manifest = {**self._manifest(chains, files), "metadata": metadata or {}}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=float))
        return Path(path)

    def _manifest(self, chains: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
        model = self.model
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": versions(),
            "fingerprint": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest(),
            "views": self.view_names,
            "encoders": chains,
            "dimensions": {
                "features": self.dims_,
                "joint": int(getattr(model, "n_components_", model.n_components)),
            },
            "model": {"class": type(model).__name__, "dir": "model"},
            "training_data": self.train_info_,
            "test_metrics": self.metrics_ or None,
            "files": files,
        }

    @classmethod
    def load(cls, path: str | os.PathLike, **model_params: Any) -> Pipeline:
        """Read a pipeline written by :meth:`save`.

        Args:
            path: the pipeline directory.
            **model_params: passed to the model's ``load`` (``device``, a user's module).
        Raises:
            FileNotFoundError: ``path`` is not a pipeline directory (no manifest).
            ValueError: a damaged or missing file (named, with what was expected).
        """
        root = Path(path).expanduser()
        manifest = read_manifest(root)
        for rel, digest in manifest["files"].items():
            file = root / rel
            if not file.is_file():
                raise ValueError(f"pipeline {str(root)!r} is incomplete: {rel} is missing")
            if sha256_file(file) != digest:
                raise ValueError(
                    f"pipeline {str(root)!r}: {rel} is damaged (its sha256 differs from the "
                    "manifest's); save the pipeline again"
                )
        pipe = cls.__new__(cls)
        pipe.encoders = {v: [s["spec"] for s in steps] for v, steps in manifest["encoders"].items()}
        pipe.encoders_ = {
            v: [load_encoder(root / s["dir"]) for s in steps]
            for v, steps in manifest["encoders"].items()
        }
        pipe.model = load_model(root / manifest["model"]["dir"], **model_params)
        pipe.cache_dir = None
        pipe.dims_ = dict(manifest["dimensions"]["features"])
        pipe.train_info_ = manifest.get("training_data", {})
        pipe.metrics_ = manifest.get("test_metrics") or {}
        pipe.manifest_ = manifest
        return pipe

    @property
    def fingerprint(self) -> str | None:
        """sha256 naming a saved pipeline's files (None before save/load): an index built
        with one pipeline records it."""
        manifest = getattr(self, "manifest_", None)
        return None if manifest is None else manifest["fingerprint"]

    @property
    def source_fingerprint(self) -> str | None:
        """For an export (``jointspace export``), the fingerprint of the pipeline it was
        exported from, whose vectors it reproduces (to its recorded parity); else None."""
        manifest = getattr(self, "manifest_", None) or {}
        export = (manifest.get("metadata") or {}).get("export") or {}
        return export.get("source_fingerprint")

    def __repr__(self) -> str:
        chains = ", ".join(
            f"{v}={'>'.join(s if isinstance(s, str) else spec_of(s) for s in spec)}"
            if isinstance(spec, list)
            else f"{v}={spec}"
            for v, spec in self.encoders.items()
        )
        return f"Pipeline({chains}; {type(self.model).__name__})"


def _supervised(model: Any) -> bool:
    """Whether ``model`` is a fusion head, trained on the data's labels."""
    return bool(getattr(type(model), "supervised", False))

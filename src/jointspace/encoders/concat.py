"""Concatenation of encoders: ``make_encoder("hog+color-hist")`` is one encoder whose
features are its parts' features side by side, in order.

It keeps its parts and their order, fits each part on the same items, and saves and loads
like any other encoder (its config lists the parts' configs; its state is the parts' states
under ``part<i>/``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder, encoder_from_config, make_encoder, register

PartSpec = str | dict[str, Any] | Encoder


def _build(part: PartSpec, index: int) -> Encoder:
    if isinstance(part, Encoder):
        from sklearn.base import clone

        return clone(part)
    if isinstance(part, str):
        return make_encoder(part)
    if isinstance(part, dict) and "name" in part:
        return encoder_from_config(part)
    raise ValueError(
        f"concat part {index} is a {type(part).__name__}; expected an encoder spec such as "
        "'hog', an encoder config dict or an Encoder"
    )


@register("concat")
class ConcatEncoder(Encoder):
    """Several encoders of one modality, their features concatenated: (n, d_1 + … + d_m).

    Args:
        parts: the encoders in order, each a spec (``"hog"``, ``"pixels:size=32"``), a
            config dict (:meth:`Encoder.config`) or an unfitted ``Encoder`` (cloned).

    Fitted attributes: ``encoders_`` (the part encoders, fitted), ``dims_`` (each part's
    width, once transformed or loaded).

    Raises:
        ValueError: no parts, a nested concatenation, or parts of different input kinds
            (text and images).
    """

    def __init__(self, parts: Sequence[PartSpec] = ()) -> None:
        self.parts = parts

    # ------------------------------------------------------------------ parts
    def _parts(self) -> list[Encoder]:
        """The part encoders: fitted ones after ``fit`` / load, else built from ``parts``."""
        if getattr(self, "encoders_", None) is None:
            self.encoders_ = self._build_parts()
        return self.encoders_

    def _build_parts(self) -> list[Encoder]:
        if isinstance(self.parts, str) or not len(self.parts):
            raise ValueError(
                f"concat encoder parts={self.parts!r}; expected a list of encoder specs"
            )
        built = [_build(p, i) for i, p in enumerate(self.parts)]
        nested = [e.name for e in built if isinstance(e, ConcatEncoder)]
        if nested:
            raise ValueError("a concat encoder cannot hold another one; list the parts flat")
        kinds = {e.input_kind for e in built}
        if len(kinds) > 1:
            names = ", ".join(f"{e.name} ({e.input_kind})" for e in built)
            raise ValueError(f"concatenated encoders take different inputs: {names}")
        return built

    @property
    def input_kind(self) -> str:  # type: ignore[override]
        return self._parts()[0].input_kind

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        return any(e.stateful for e in self._parts())

    # -------------------------------------------------------------- contract
    def fit(self, X: Any, y: Any = None) -> ConcatEncoder:
        """Fit every part on the items ``X``; returns self."""
        self.encoders_ = self._build_parts()
        for encoder in self.encoders_:
            encoder.fit(X, y)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return all(e.__sklearn_is_fitted__() for e in self._parts())

    def transform(self, X: Any) -> np.ndarray:
        """(n, d_1 + … + d_m) float32: the parts' features of the n items, in order."""
        self._check_fitted()
        features = [np.asarray(e.transform(X), dtype=np.float32) for e in self._parts()]
        self.dims_ = [f.shape[1] for f in features]
        return np.concatenate(features, axis=1)

    # ------------------------------------------------------------------ state
    def config(self) -> dict[str, Any]:
        """``{"name": "concat", "params": {"parts": [each part's config, in order]}}``."""
        return {"name": self.name, "params": {"parts": [e.config() for e in self._parts()]}}

    def spec(self) -> str:
        """The parts' registry names joined by "+" (``"hog+color-hist"``), for people."""
        return "+".join(e.name for e in self._parts())

    def _get_state(self) -> dict[str, Any]:
        return {
            f"part{i}/{key}": value
            for i, encoder in enumerate(self._parts())
            for key, value in encoder._get_state().items()
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        parts = self._parts()
        for i, encoder in enumerate(parts):
            prefix = f"part{i}/"
            own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            if own:
                encoder._set_state(own)

    def state_fingerprint(self) -> str:
        """sha256 of the parts' fingerprints, in order."""
        joined = "|".join(e.state_fingerprint() for e in self._parts())
        return hashlib.sha256(joined.encode()).hexdigest()

    def cache_key(self) -> str:
        """sha256 of the parts' cache keys, in order (speed-only parameters left out)."""
        joined = "|".join(e.cache_key() for e in self._parts())
        return hashlib.sha256(f"concat|{joined}".encode()).hexdigest()

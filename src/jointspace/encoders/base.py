"""The encoder contract, the registry of encoders by name, and input checks shared by them.

Every encoder is a scikit-learn transformer: the constructor stores parameters only,
``fit(X, y=None)`` returns ``self`` and ``transform(X)`` returns a float32 array (n, d).
Encoders are named in a registry so that a pipeline config can say ``"hog"`` or
``"hf:/models/my-sbert"`` and get the encoder back with :func:`make_encoder`.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from jointspace.persistence import check_config_digest, read_model_dir, write_model_dir
from jointspace.specs import parse_value

#: name → encoder class, filled by :func:`register`
ENCODERS: dict[str, type[Encoder]] = {}

InputKind = Literal["text", "media", "table"]
E = TypeVar("E", bound="type[Encoder]")


def register(name: str) -> Callable[[E], E]:
    """Class decorator: make an encoder class available as ``name`` in :data:`ENCODERS`."""

    def wrap(cls: E) -> E:
        if name in ENCODERS and ENCODERS[name] is not cls:
            raise ValueError(f"encoder name {name!r} is already taken by {ENCODERS[name]}")
        shadowed = [p for p in cls._get_param_names() if callable(getattr(cls, p, None))]
        if shadowed:  # the constructor stores parameters as attributes: a method would vanish
            raise TypeError(f"encoder {name!r}: parameter {shadowed[0]!r} shadows a method")
        cls.name = name
        ENCODERS[name] = cls
        return cls

    return wrap


def _plain(value: Any) -> Any:
    """A parameter value as plain JSON data (tuples become lists, paths strings)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def fingerprint_state(state: dict[str, Any]) -> str:
    """sha256 hex digest of a state dict of JSON values and arrays (dtype, shape and bytes)."""
    h = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        h.update(key.encode() + b"\0")
        if isinstance(value, np.ndarray):
            arr = np.ascontiguousarray(value)
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
        else:
            h.update(json.dumps(_plain(value), sort_keys=True).encode())
        h.update(b"\0")
    return h.hexdigest()


class Encoder(TransformerMixin, BaseEstimator, ABC):
    """Base class of every featurizer: raw items of one modality → float32 array (n, d).

    Subclasses set ``input_kind`` (``"text"``: strings; ``"media"``: file paths or arrays,
    one per item; ``"table"``: a numeric array (n, d)), implement ``transform`` and, when
    ``fit`` learns something, ``_get_state`` / ``_set_state`` (plain JSON values and
    arrays) so that the fitted state can be fingerprinted, saved and loaded.
    """

    name: ClassVar[str] = "encoder"
    input_kind: ClassVar[InputKind] = "media"
    #: whether ``fit`` learns state (if not, the encoder transforms without being fitted)
    stateful: ClassVar[bool] = False
    #: parameters that change speed, never the features (left out of the cache key)
    runtime_params: ClassVar[tuple[str, ...]] = ()

    def fit(self, X: Any, y: Any = None) -> Encoder:
        """Learn the encoder's state from the items ``X`` (a no-op for stateless encoders).

        Returns:
            self
        """
        return self

    @abstractmethod
    def transform(self, X: Any) -> np.ndarray:
        """Encode the n items of ``X``; returns a float32 array (n, d)."""

    def __sklearn_is_fitted__(self) -> bool:
        return not self.stateful or bool(self._get_state())

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"{self.name} encoder is not fitted; call fit(X) before transform(X)"
            )

    # ----------------------------------------------------------------- state
    def _get_state(self) -> dict[str, Any]:
        """The fitted state: JSON values and arrays (empty when not fitted or stateless)."""
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore the state returned by ``_get_state``."""

    def config(self) -> dict[str, Any]:
        """``{"name": registry name, "params": constructor parameters}`` as plain JSON."""
        return {"name": self.name, "params": {k: _plain(v) for k, v in self.get_params().items()}}

    def state_fingerprint(self) -> str:
        """sha256 hex digest of the fitted state (of the model file(s) for loaded models).

        Two encoders with the same config and fingerprint give the same features; the
        feature cache keys on both.
        """
        return fingerprint_state(self._get_state())

    def cache_key(self) -> str:
        """sha256 hex digest of the config (without ``runtime_params``) + state fingerprint."""
        cfg = self.config()
        params = {k: v for k, v in cfg["params"].items() if k not in self.runtime_params}
        payload = {"name": cfg["name"], "params": params, "state": self.state_fingerprint()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------- registry
def _spec_list() -> str:
    return ", ".join(
        f"{n}:<path>" if "path" in c._get_param_names() else n for n, c in sorted(ENCODERS.items())
    )


def make_encoder(spec: str, **params: Any) -> Encoder:
    """An encoder from its registry name, e.g. ``make_encoder("hog", size=64)``.

    ``"<name>:<path>"`` passes ``path`` to encoders that load a model from disk:
    ``make_encoder("hf:/models/sbert")``, ``make_encoder("torch:/models/cnn.pt", size=96)``.
    Parameters may follow as ``:key=value`` parts (``"pixels:size=64"``,
    ``"torch:/models/cnn.pt:size=96"``); keyword arguments take precedence.

    ``"hog+color-hist"`` is one :class:`~jointspace.encoders.concat.ConcatEncoder` of the
    parts, in order (each part a spec with its own options: ``"pixels:size=32+hog"``).

    Raises:
        ValueError: an unknown name (lists the available ones) or parameter.
    """
    if "+" in spec:
        if params:
            raise ValueError(
                f"encoder spec {spec!r} concatenates encoders; give options inside each part "
                "(e.g. 'pixels:size=32+hog'), not as keyword arguments"
            )
        from jointspace.encoders.concat import ConcatEncoder

        concat = ConcatEncoder([part.strip() for part in spec.split("+")])
        concat._build_parts()  # unknown names and mixed input kinds fail here, not at fit
        return concat
    name, sep, rest = spec.partition(":")
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {spec!r}; available encoders: {_spec_list()}")
    cls = ENCODERS[name]
    allowed = cls._get_param_names()
    parts = rest.split(":") if sep else []
    takes_path = "path" in allowed
    options = [p for p in parts if "=" in p and (p.partition("=")[0] in allowed or not takes_path)]
    path = ":".join(p for p in parts if p not in options)
    sep = sep if path else ""
    given = {k.strip(): parse_value(v.strip()) for k, _, v in (o.partition("=") for o in options)}
    params = {**given, **params}
    if sep:
        if "path" not in allowed:
            raise ValueError(f"encoder {name!r} takes no path; got {spec!r}")
        if not path:
            raise ValueError(f"encoder spec {spec!r} has an empty path; expected {name}:<path>")
        params = {"path": path, **params}
    for key in params:
        if key not in allowed:
            raise ValueError(f"encoder {name!r} has no parameter {key!r}; parameters: {allowed}")
    return cls(**params)


def encoder_from_config(config: dict[str, Any]) -> Encoder:
    """Inverse of :meth:`Encoder.config` (an unfitted encoder)."""
    return make_encoder(config["name"], **config.get("params", {}))


def save_encoder(encoder: Encoder, path: str | os.PathLike) -> Path:
    """Write the encoder's config and fitted state to directory ``path`` (atomic, no pickle).

    Returns:
        The directory path.
    """
    state = encoder._get_state()
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    return write_model_dir(path, {"encoder": encoder.config(), "state": scalars}, arrays)


def load_encoder(path: str | os.PathLike) -> Encoder:
    """Read an encoder written by :func:`save_encoder`, fitted state included."""
    config, arrays = read_model_dir(path)
    if "encoder" not in config:
        raise ValueError(f"{os.fspath(path)!r} holds a model, not an encoder")
    where = f"encoder directory {os.fspath(path)!r}"
    try:
        encoder = encoder_from_config(config["encoder"])
        state = {**config.get("state", {}), **arrays}
        if state:
            encoder._set_state(state)
    except (TypeError, KeyError, AttributeError, IndexError) as exc:
        raise ValueError(f"{where}: its config does not fit the encoder "
                         f"({type(exc).__name__}: {exc})") from None
    check_config_digest(path, config)
    return encoder


# -------------------------------------------------------------- input checks
def check_texts(X: Any, encoder: str) -> list[str]:
    """``X`` as a list of n strings.

    Raises:
        ValueError: ``X`` is a single string or not a sequence, or holds non-strings
            (says how many and the index of the first).
    """
    if isinstance(X, str | bytes):
        raise ValueError(
            f"text encoder {encoder!r} got a single string; expected a list of strings"
        )
    if isinstance(X, np.ndarray):
        if X.ndim != 1:
            raise ValueError(
                f"text encoder {encoder!r} got an array of shape {X.shape}; expected 1-D"
            )
        X = X.tolist()
    elif not isinstance(X, Sequence) and hasattr(X, "tolist"):  # a pandas Series / Index
        X = X.tolist()
    if not isinstance(X, Sequence):
        raise ValueError(
            f"text encoder {encoder!r} got a {type(X).__name__}; expected a list of strings"
        )
    bad = [i for i, x in enumerate(X) if not isinstance(x, str)]
    if bad:
        raise ValueError(
            f"text encoder {encoder!r} got {len(bad)} items that are not strings "
            f"(first at index {bad[0]}: {type(X[bad[0]]).__name__})"
        )
    return list(X)


def check_media(X: Any, encoder: str, array_ndims: tuple[int, ...], what: str) -> list[Any]:
    """``X`` as a list of n items, each a path (str / PathLike) or an array.

    Args:
        X: a sequence of paths / arrays, or one array whose first axis indexes items.
        array_ndims: the accepted numbers of dimensions of such a stacked array
            ((3, 4) for images: n × H × W (× C); (2,) for audio: n × samples).
        what: "image" or "audio", for messages.

    Raises:
        ValueError: an empty input or an item of the wrong type or shape (names its index).
    """
    if isinstance(X, str | bytes | os.PathLike):
        raise ValueError(f"{what} encoder {encoder!r} got a single path; expected a list")
    if isinstance(X, np.ndarray):
        if X.ndim not in array_ndims:
            raise ValueError(
                f"{what} encoder {encoder!r} got an array of shape {X.shape}; expected "
                f"{' or '.join(map(str, array_ndims))} dimensions (n items first)"
            )
        items: list[Any] = list(X)
    elif isinstance(X, Sequence) or hasattr(X, "tolist"):  # a pandas Series of paths
        items = list(X)
    else:
        raise ValueError(
            f"{what} encoder {encoder!r} got a {type(X).__name__}; expected a list of "
            "file paths or arrays"
        )
    for i, item in enumerate(items):
        if isinstance(item, str | os.PathLike):
            continue
        if not isinstance(item, np.ndarray) or item.dtype.kind not in "buif":
            raise ValueError(
                f"{what} encoder {encoder!r}: item {i} is a {type(item).__name__}; expected "
                "a file path or a numeric array"
            )
    return items

"""Short names for models (the CLI's ``--model cca``), mapped to their classes."""

from __future__ import annotations

import inspect
from typing import Any

from jointspace.models.base import JointModel
from jointspace.models.deep import DCCA, DCCAE, DGCCA, ContrastiveDualEncoder
from jointspace.models.linear import CCA, GCCA, KCCA, MCCA, PLS

#: short name → model class
MODELS: dict[str, type[JointModel]] = {
    "cca": CCA,
    "pls": PLS,
    "mcca": MCCA,
    "gcca": GCCA,
    "kcca": KCCA,
    "dcca": DCCA,
    "dccae": DCCAE,
    "dgcca": DGCCA,
    "dual-encoder": ContrastiveDualEncoder,
}

#: parameters that are passed to every model and silently skipped by those without them
OPTIONAL = {
    "reg",
    "epochs",
    "batch_size",
    "lr",
    "hidden",
    "activation",
    "input_noise",
    "weight_decay",
    "device",
    "random_state",
    "progress",
}


def parse_value(text: str) -> Any:
    """A parameter value from text: int, float, true/false, none, a "/"-separated tuple
    (``hidden=512/512``), else the string itself."""
    if "/" in text:
        return tuple(parse_value(t) for t in text.split("/") if t)
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_model_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """ "name:key=value:key=value" → (name, params), e.g.
    ``"dual-encoder:loss=siglip:hard_negatives=topk"``.

    Raises:
        ValueError: an option without "=".
    """
    name, *options = spec.split(":")
    params = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"model spec {spec!r}: option {option!r}; expected key=value")
        params[key.strip().replace("-", "_")] = parse_value(value.strip())
    return name.strip(), params


def make_model(name: str, **params: Any) -> JointModel:
    """Build the model called ``name`` with the parameters it accepts.

    ``name`` may carry its own options, "name:key=value:…" (see :func:`parse_model_spec`);
    they take precedence over ``params``.

    Parameters set to None are left at the model's default. The shared options in
    :data:`OPTIONAL` (``reg``, the training options) are skipped for models without them;
    any other parameter a model does not take is an error.

    Raises:
        ValueError: unknown model name or parameter.
    """
    name, own = parse_model_spec(name)
    key = name.lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    cls = MODELS[key]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    kwargs = {}
    for param in own:
        if param not in accepted:
            raise ValueError(
                f"model {name!r} has no parameter {param!r}; it takes {sorted(accepted)}"
            )
    for param, value in {**params, **own}.items():
        if param in accepted:
            if value is not None or param in own:
                kwargs[param] = value
        elif value is not None and param not in OPTIONAL:
            raise ValueError(
                f"model {name!r} has no parameter {param!r}; it takes {sorted(accepted)}"
            )
    return cls(**kwargs)

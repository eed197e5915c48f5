"""Short names for models (the CLI's ``--model cca``), mapped to their classes."""

from __future__ import annotations

import importlib
from typing import Any

from jointspace.models.base import JointModel
from jointspace.specs import parse_options, split_spec

#: short name → "module:Class"; a model's module (torch for the deep ones) is imported on use
MODELS: dict[str, str] = {
    "cca": "jointspace.models.linear:CCA",
    "pls": "jointspace.models.linear:PLS",
    "mcca": "jointspace.models.linear:MCCA",
    "gcca": "jointspace.models.linear:GCCA",
    "kcca": "jointspace.models.linear:KCCA",
    "dcca": "jointspace.models.deep:DCCA",
    "dccae": "jointspace.models.deep:DCCAE",
    "dgcca": "jointspace.models.deep:DGCCA",
    "dual-encoder": "jointspace.models.deep:ContrastiveDualEncoder",
    "vae": "jointspace.models.deep:MultimodalVAE",
    "autoencoder": "jointspace.models.deep:SplitAutoencoder",
}


def model_class(name: str) -> type[JointModel]:
    """The class of the model called ``name`` (a key of :data:`MODELS`, any case).

    Raises:
        ValueError: unknown name (lists the available ones).
    """
    key = name.lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    module, _, cls = MODELS[key].partition(":")
    return getattr(importlib.import_module(module), cls)


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


def parse_model_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """ "name:key=value:key=value" → (name, params), e.g.
    ``"dual-encoder:loss=siglip:hard_negatives=topk"``.

    Raises:
        ValueError: an option without "=".
    """
    name, parts = split_spec(spec)
    return name, parse_options(parts, spec, "model spec")


def make_model(name: str, **params: Any) -> JointModel:
    """Build the model called ``name`` with the parameters it accepts.

    ``name`` may carry its own options, "name:key=value:…" (see :func:`parse_model_spec`);
    they take precedence over ``params``.

    Parameters set to None are left at the model's default. The shared options in
    :data:`OPTIONAL` (``reg``, the training options) are skipped for models without them;
    any other parameter a model does not take is an error. A deep model's training options
    (``epochs``, ``lr``, …, flat here and in a spec: ``"dcca:epochs=10"``) become entries of
    its ``training`` dict.

    Raises:
        ValueError: unknown model name or parameter.
    """
    name, own = parse_model_spec(name)
    cls = model_class(name)
    accepted = set(cls._get_param_names())  # scikit-learn's list: a subclass's own too
    if "training" in accepted:  # the deep models' training options go into one dict
        params = _nest_training(params, keep_none=False)
        own = _nest_training(own, keep_none=True)
        if "training" in own and "training" in params:
            own["training"] = {**params["training"], **own["training"]}
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


def _nest_training(params: dict[str, Any], keep_none: bool) -> dict[str, Any]:
    """``params`` with the training options (``epochs=…``) moved into one ``training`` dict
    (an option set to None is left at the model's default unless ``keep_none``)."""
    from jointspace.train.options import OPTION_NAMES

    flat = {k: v for k, v in params.items() if k in OPTION_NAMES and (keep_none or v is not None)}
    rest = {k: v for k, v in params.items() if k not in OPTION_NAMES}
    if flat:
        rest["training"] = {**(rest.get("training") or {}), **flat}
    return rest

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


def make_model(name: str, **params: Any) -> JointModel:
    """Build the model called ``name`` with the parameters it accepts.

    Parameters set to None are left at the model's default. The shared options in
    :data:`OPTIONAL` (``reg``, the training options) are skipped for models without them;
    any other parameter a model does not take is an error.

    Raises:
        ValueError: unknown model name or parameter.
    """
    key = name.lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    cls = MODELS[key]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    kwargs = {}
    for param, value in params.items():
        if param in accepted:
            if value is not None:
                kwargs[param] = value
        elif value is not None and param not in OPTIONAL:
            raise ValueError(
                f"model {name!r} has no parameter {param!r}; it takes {sorted(accepted)}"
            )
    return cls(**kwargs)

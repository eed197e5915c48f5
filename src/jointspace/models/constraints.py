"""Parameter constraints of the models, in scikit-learn's ``_parameter_constraints`` form.

Every model declares one constraint list per constructor parameter; ``JointModel.fit``
(and ``partial_fit``) validates them first, so a wrong value is an ``InvalidParameterError``
(a ``ValueError``) that names the parameter, the model and what was expected, before any
work starts. The building blocks shared by several models live here.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

from sklearn.utils._param_validation import Interval, StrOptions

#: an integer ≥ 1 (components, epochs, widths)
POSITIVE_INT = Interval(Integral, 1, None, closed="left")
#: a number ≥ 0 (ridges, weights, noise)
NON_NEGATIVE = Interval(Real, 0, None, closed="left")
#: a number > 0 (learning rates, temperatures, kernel widths)
POSITIVE = Interval(Real, 0, None, closed="neither")
#: a fraction in [0, 1)
FRACTION = Interval(Real, 0, 1, closed="left")
#: an integer seed or None (numpy's and torch's seeding take both)
SEED: list[Any] = [Interval(Integral, 0, None, closed="left"), None]
#: a ridge ε ≥ 0 for every view, or one per view
PER_VIEW_RIDGE: list[Any] = [NON_NEGATIVE, "array-like"]


#: the options object of the deep models (a dict of changes, see
#: :mod:`jointspace.train.options`) and their seed
TRAINING_CONSTRAINTS: dict[str, list[Any]] = {"training": [dict, None], "random_state": SEED}


def tower_constraints(activations: tuple[str, ...], module_type: type) -> dict[str, list[Any]]:
    """Constraints of the tower layout options (``tower``: a kind, a dict, one per view, or
    the user's module)."""
    return {
        "tower": [StrOptions({"mlp", "linear", "cnn", "minilm"}), dict, list, tuple,
                  module_type],
        "hidden": [POSITIVE_INT, list, tuple],
        "activation": [StrOptions(set(activations))],
        "dropout": [FRACTION],
        "batch_norm": ["boolean"],
    }

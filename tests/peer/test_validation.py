"""The shared input and per-view parameter validation.

Adapted from cca-zoo 4.0.1's ``tests/test_validation.py``, through :mod:`.adapter`'s
counterparts: ``validate_views`` runs the checks every jointspace model runs on its views
(``JointModel._validate_views``, and fit's refusal of too few samples);
``perview_parameter`` is jointspace's ``per_view``. The peer's inputs, messages and
expectations are kept. Not adapted: ``test_validate_views_lets_nan_through_for_imputers``
(jointspace has no NaN pass-through; a missing row is marked in a MultiView's mask).
"""

from __future__ import annotations

import numpy as np
import pytest

from .adapter import perview_parameter, validate_views

_WORDING = "error wording: jointspace raises ValueError({!r}), not the peer's {!r}"


def test_validate_views_returns_float_arrays() -> None:
    """Nested lists become float64 arrays of the same shapes."""
    views = validate_views([[[1, 2], [3, 4]], [[5], [6]]])
    assert [(v.dtype, v.shape) for v in views] == [
        (np.float64, (2, 2)),
        (np.float64, (2, 1)),
    ]


def _wording(jointspace: str, peer: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(reason=_WORDING.format(jointspace, peer), strict=True)


@pytest.mark.parametrize(
    ("views", "kwargs", "match"),
    [
        pytest.param(
            [np.ones((3, 2))], {}, "At least 2 views",
            marks=_wording("MCCA got 1 views; expected at least 2", "At least 2 views"),
        ),
        pytest.param(
            [np.ones((3, 2)), np.ones((4, 2))], {}, "same number of samples",
            marks=_wording("view 'view1' has 4 rows, view 'view0' has 3",
                           "same number of samples"),
        ),
        ([np.ones((3, 2)), np.full((3, 2), np.nan)], {}, "NaN"),
        pytest.param(
            [np.ones((1, 2)), np.ones((1, 2))], {"ensure_min_samples": 2}, "minimum",
            marks=_wording("MCCA got 1 sample; expected at least 2 paired samples",
                           "... minimum of 2 is required"),
        ),
    ],
)
def test_validate_views_rejects(
    views: list[np.ndarray], kwargs: dict[str, int], match: str
) -> None:
    """Too few views, mismatched samples, NaN and too few samples raise."""
    with pytest.raises(ValueError, match=match):
        validate_views(views, **kwargs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, [0.5, 0.5, 0.5]),
        pytest.param(
            None, [0.1, 0.1, 0.1],
            marks=pytest.mark.xfail(
                reason="per_view (models/base.py) has no default: reg=None is refused with "
                "ValueError(\"shrinkage=None; expected a non-negative number, or one per "
                "view\"); cca-zoo's perview_parameter maps None to the model's default",
                strict=True,
            ),
        ),
        ([1, 2, 3], [1, 2, 3]),
    ],
)
def test_perview_parameter_broadcasts(
    value: float | list[int] | None, expected: list[float]
) -> None:
    """A scalar is broadcast, None gives the default and a list passes through."""
    assert perview_parameter("shrinkage", value, 0.1, 3) == expected


@_wording("shrinkage has 2 values; expected 1 or 3 (one per view)",
          "'shrinkage' must be a scalar or a list of length 3")
def test_perview_parameter_needs_one_value_per_view() -> None:
    """A list of the wrong length names the parameter and the length expected."""
    with pytest.raises(
        ValueError, match="'shrinkage' must be a scalar or a list of length 3"
    ):
        perview_parameter("shrinkage", [0.1, 0.2], 0.0, 3)

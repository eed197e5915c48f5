"""Splitting a `MultiView` into train and test parts, stratified and group-aware."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split as _sk_split

from jointspace.data.multiview import MultiView


def train_test_split(
    views: MultiView,
    test_size: float | int = 0.2,
    *,
    stratify: bool = True,
    random_state: int | None = 0,
) -> tuple[MultiView, MultiView]:
    """Split samples into train and test MultiViews.

    Samples that share a group id (several captions of one image) always land on the
    same side. With ``stratify`` and labels present, the split keeps each label's share
    on both sides (a group takes the label of its first sample); stratification is skipped
    when some label has a single group or a side has fewer groups than there are labels.

    Args:
        views: the MultiView to split (n samples).
        test_size: fraction in (0, 1) of groups, or an absolute number of groups.
        stratify: stratify by ``views.labels`` when it is present.
        random_state: seed; the same seed gives the same split.

    Returns:
        (train, test): two MultiViews whose samples partition the n samples, each in the
        original order.
    """
    if not isinstance(views, MultiView):
        raise ValueError(f"views is a {type(views).__name__}; expected a MultiView")
    groups = views.relevance_groups
    uniq, first = np.unique(groups, return_index=True)
    n_groups = len(uniq)
    if isinstance(test_size, float | np.floating):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size={test_size}; expected a fraction in (0, 1) or a count")
        n_test = int(round(float(test_size) * n_groups))
    else:
        n_test = int(test_size)
    if not 1 <= n_test <= n_groups - 1:
        raise ValueError(
            f"test_size={test_size} leaves {n_test} of {n_groups} groups for the test set; "
            "expected at least one group on each side"
        )
    strat = None
    if stratify and views.labels is not None:
        group_labels = views.labels[first]
        _, counts = np.unique(group_labels, return_counts=True)
        n_classes = len(counts)
        if counts.min() >= 2 and n_classes <= n_test and n_classes <= n_groups - n_test:
            strat = group_labels
    _, test_groups = _sk_split(
        uniq, test_size=n_test, stratify=strat, random_state=random_state, shuffle=True
    )
    is_test = np.isin(groups, test_groups)
    for side, count in (("train", int((~is_test).sum())), ("test", int(is_test.sum()))):
        if count < 2:
            raise ValueError(
                f"test_size={test_size} leaves {count} sample in the {side} set; "
                "expected at least 2 on each side"
            )
    return views.subset(~is_test), views.subset(is_test)

"""A contrastive loss over N views: the pair loss summed over pairs of views.

With N towers, every pair (i, j) of a list of view pairs contributes one two-view
contrastive term (InfoNCE, SigLIP, VSE++ from :mod:`.contrastive`) on the rows that have
both views:

    loss = (1 / |P'|) Σ_{(i, j) ∈ P'} ℓ(Z_i[r_ij], Z_j[r_ij]),   r_ij = rows with views i and j,

where P' holds the pairs with at least two such rows in the batch. The pairs are every
pair of views ("all", as in multi-view CMC), or every view with one anchor view (ImageBind
binds every modality to images): then two non-anchor views are never contrasted, and meet
only through the anchor, so a model can relate audio to images having seen audio only
with text.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from jointspace.losses.contrastive import Negatives


def view_pairs(n_views: int, anchor: int | None = None) -> list[tuple[int, int]]:
    """The view pairs a loss contrasts: all i < j, or (anchor, j) for every other view j.

    Raises:
        ValueError: fewer than two views, or an anchor outside ``range(n_views)``.
    """
    if n_views < 2:
        raise ValueError(f"a contrastive loss needs at least 2 views, got {n_views}")
    if anchor is None:
        return [(i, j) for i in range(n_views) for j in range(i + 1, n_views)]
    if not 0 <= anchor < n_views:
        raise ValueError(f"anchor view {anchor} is not one of the {n_views} views")
    return [(anchor, j) for j in range(n_views) if j != anchor]


def rows_with_both(mask: torch.Tensor | None, i: int, j: int, m: int) -> torch.Tensor:
    """(m,) bool: the batch rows that have views i and j (all rows without a mask)."""
    if mask is None:
        return torch.ones(m, dtype=torch.bool)
    return mask[:, i] & mask[:, j]


def pairwise_contrastive(
    objective: nn.Module,
    Z: Sequence[torch.Tensor],
    pairs: Sequence[tuple[int, int]],
    groups: torch.Tensor,
    mask: torch.Tensor | None = None,
    negatives: Sequence[Negatives | None] | None = None,
    top_k: int | None = None,
) -> tuple[torch.Tensor, dict[tuple[int, int], torch.Tensor]]:
    """The mean of the pair loss over the view pairs present in the batch.

    Args:
        objective: a two-view :class:`~jointspace.losses.contrastive.ContrastiveLoss`
            (one for all pairs: one temperature).
        Z: one (m, k) embedding tensor per view (rows a view lacks are never read).
        pairs: (i, j) view pairs, e.g. from :func:`view_pairs`.
        groups: (m,) group ids (true pairs share one).
        mask: optional (m, n_views) bool, True where a row has the view.
        negatives: optional extra candidates per view (e.g. a queue of past view-j
            embeddings), used as negatives for the anchors of the pair's other view.
        top_k: keep each anchor's k hardest negatives.
    Returns:
        (scalar loss, the loss of each pair with at least two rows).
    """
    per_pair: dict[tuple[int, int], torch.Tensor] = {}
    for i, j in pairs:
        rows = rows_with_both(mask, i, j, len(groups)).to(groups.device)
        if int(rows.sum()) < 2:
            continue
        extra = {}
        if negatives is not None:
            extra = {"negatives_a": negatives[j], "negatives_b": negatives[i]}
        per_pair[(i, j)] = objective(Z[i][rows], Z[j][rows], groups[rows], top_k=top_k,
                                     **extra)
    if not per_pair:
        return Z[0].sum() * 0.0, per_pair
    return torch.stack(list(per_pair.values())).mean(), per_pair

"""Hierarchical fusion: fuse the views pairwise along a fixed binary tree, then the results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from jointspace.fusion.base import Batch, FusionModule
from jointspace.layers import MLP, make_activation, widths

#: a tree is a view name or a pair of trees
Tree = Any


def balanced_tree(names: Sequence[str]) -> Tree:
    """Pair neighbours level by level (an odd one out moves up): a, b, c → ((a, b), c)."""
    level: list[Tree] = list(names)
    while len(level) > 1:
        pairs = [[level[i], level[i + 1]] for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def _check_tree(tree: Tree, names: Sequence[str]) -> Tree:
    """The tree as nested lists, checked: binary, every view exactly once."""
    seen: list[str] = []

    def walk(node: Tree) -> Tree:
        if isinstance(node, str):
            if node not in names:
                raise ValueError(f"tree names view {node!r}; the views are {list(names)}")
            seen.append(node)
            return node
        if not isinstance(node, Sequence) or len(node) != 2:
            raise ValueError(f"tree node {node!r}: expected a view name or a pair")
        return [walk(node[0]), walk(node[1])]

    checked = walk(tree)
    if sorted(seen) != sorted(names):
        raise ValueError(f"tree must name every view exactly once; names {seen}, views "
                         f"{list(names)}")
    return checked


class HierarchicalFusion(FusionModule):
    """Fuse views pairwise in a fixed binary tree, then fuse the results up to the root.

    Each view is embedded by its leaf, (m, d_v) → (m, width) (Linear → activation); each pair
    node maps [left; right] (m, 2·width) → (m, width) by an MLP when both sides are present,
    passes the present side as it is when one is missing, and is itself missing when both
    are. The root goes through a Linear layer to (m, out_dim). A sequence view enters as the
    mean of its real tokens.

    Args:
        dims, out_dim: see :class:`~jointspace.fusion.base.FusionModule`.
        tree: nested pairs of view names, e.g. ``[["image", "text"], "audio"]``; default
            :func:`balanced_tree` of the views in order.
        width: width of the leaf and node embeddings.
        hidden: hidden widths of each pair node's MLP.
        activation, dropout: of leaves and nodes.
    """

    name = "hierarchical"

    def __init__(
        self,
        dims: Mapping[str, int],
        out_dim: int,
        tree: Tree | None = None,
        width: int = 64,
        hidden: int | Sequence[int] = (64,),
        activation: str = "relu",
        dropout: float = 0.0,
    ):
        names = list(dims)
        tree = _check_tree(balanced_tree(names) if tree is None else tree, names)
        hidden = widths(hidden)
        super().__init__(dims, out_dim, tree=tree, width=int(width), hidden=list(hidden),
                         activation=activation, dropout=dropout)
        self.tree = tree
        self.leaves = nn.ModuleList(
            nn.Sequential(nn.Linear(d, width), make_activation(activation)) for d in dims.values()
        )
        self.nodes = nn.ModuleList()
        self._plan = self._compile(tree, lambda: self.nodes.append(
            nn.Sequential(MLP(2 * width, width, hidden=hidden, activation=activation,
                              dropout=dropout), make_activation(activation))
        ))
        self.head = nn.Linear(width, out_dim)

    def _compile(self, node: Tree, new_node: Any) -> Any:
        """The tree with view indices at the leaves and node indices at the pairs."""
        if isinstance(node, str):
            return self.view_names.index(node)
        left, right = self._compile(node[0], new_node), self._compile(node[1], new_node)
        new_node()
        return (len(self.nodes) - 1, left, right)

    def _eval(self, plan: Any, h: list[torch.Tensor],
              mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(m, width) embedding and (m,) presence of a subtree."""
        if isinstance(plan, int):
            return h[plan], mask[:, plan]
        index, left, right = plan
        (hl, pl), (hr, pr) = self._eval(left, h, mask), self._eval(right, h, mask)
        both = self.nodes[index](torch.cat([hl, hr], dim=1))
        one = torch.where(pl[:, None], hl, hr)  # a missing side is zeros
        return torch.where((pl & pr)[:, None], both, one), pl | pr

    def fuse(self, batch: Batch) -> torch.Tensor:
        h = []
        for j, (leaf, x) in enumerate(zip(self.leaves, batch.pooled())):
            e = leaf(x)
            h.append(torch.where(batch.mask[:, j, None], e, torch.zeros_like(e)))
        root, _ = self._eval(self._plan, h, batch.mask)
        return self.head(root)

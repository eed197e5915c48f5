"""The fusion registry: ``make_fusion(name, dims, out_dim, **options)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jointspace.fusion.attention import AttentionFusion
from jointspace.fusion.base import FusionModule
from jointspace.fusion.early_late import EarlyFusion, HybridFusion, LateFusion
from jointspace.fusion.gated import GatedFusion
from jointspace.fusion.hierarchical import HierarchicalFusion

#: registry name → (class, fixed options)
FUSIONS: dict[str, tuple[type[FusionModule], dict[str, Any]]] = {
    "early": (EarlyFusion, {}),
    "late": (LateFusion, {}),
    "hierarchical": (HierarchicalFusion, {}),
    "hybrid": (HybridFusion, {}),
    "self-attention": (AttentionFusion, {"mode": "self"}),
    "cross-attention": (AttentionFusion, {"mode": "cross"}),
    "co-attention": (AttentionFusion, {"mode": "co"}),
    "gated": (GatedFusion, {}),
}


def make_fusion(name: str, dims: Mapping[str, int], out_dim: int,
                **options: Any) -> FusionModule:
    """A fusion module by registry name (see :data:`FUSIONS`) with its options.

    ``make_fusion(**module.get_config())`` rebuilds a module (its parameters are not copied).
    """
    if name not in FUSIONS:
        raise ValueError(f"fusion {name!r}; expected one of {', '.join(FUSIONS)}")
    cls, fixed = FUSIONS[name]
    clash = {k for k in fixed if k in options and options[k] != fixed[k]}
    if clash:
        raise ValueError(f"fusion {name!r} fixes {', '.join(sorted(clash))}")
    return cls(dims, out_dim, **{**options, **fixed})

"""The fusion contract and the masking helpers every fusion module shares.

A fusion module maps a dict of view tensors plus a mask of observed views to one tensor:

    forward(views, mask, token_mask=None) -> (m, out_dim)

- ``views[name]`` is (m, d_name), one token, or (m, t_name, d_name), a sequence of tokens;
- ``mask`` is (m, n_views) bool in the module's view order (``dims``), True = observed;
- ``token_mask`` (optional) maps a sequence view to (m, t_name) bool, True = a real token.

A missing view never contributes: its values are replaced by zeros with ``torch.where``
before any arithmetic (they may be NaN), and it is excluded from every mean, softmax and
attention. The output of a row therefore does not depend on its missing views' values at all
(bit for bit), and a row with one observed view is defined. A row with no observed view is a
``ValueError`` naming the rows.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax of ``scores`` over ``dim`` among the entries where ``mask`` is True.

    Masked entries get weight exactly 0 and never affect the others (their scores may be NaN
    or ±inf); a slice with no True entry is all zeros (not NaN), and its gradient is zero.
    ``mask`` broadcasts against ``scores``.
    """
    mask = mask.expand_as(scores)
    any_true = mask.any(dim=dim, keepdim=True)
    filled = scores.masked_fill(~mask, float("-inf"))
    filled = torch.where(any_true, filled, torch.zeros_like(filled))
    weights = torch.softmax(filled, dim=dim)
    return torch.where(mask, weights, torch.zeros_like(weights))


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` among the entries where ``mask`` is True.

    ``mask`` has the shape of ``x`` up to ``dim`` (inclusive), e.g. x (m, n, d) with mask
    (m, n) and dim=1 gives (m, d). Masked entries are excluded with ``torch.where`` (NaN there
    never leaks); a slice with no True entry gives 0.
    """
    while mask.dim() < x.dim():
        mask = mask.unsqueeze(-1)
    kept = torch.where(mask, x, torch.zeros_like(x))
    count = mask.expand_as(x).sum(dim=dim).clamp_min(1).to(x.dtype)
    return kept.sum(dim=dim) / count


@dataclass
class Batch:
    """Validated inputs in view order.

    Attributes:
        tokens: per view (m, t_v, d_v); a missing view's tokens (and padded tokens) are 0.
        token_masks: per view (m, t_v) bool: the token is real and its view observed.
        mask: (m, n_views) bool, the observed views.
    """

    tokens: list[torch.Tensor]
    token_masks: list[torch.Tensor]
    mask: torch.Tensor

    def pooled(self) -> list[torch.Tensor]:
        """Per view (m, d_v): the mean of its real tokens (0 for a missing view)."""
        return [masked_mean(x, tm, dim=1) for x, tm in zip(self.tokens, self.token_masks)]

    def mask_bits(self) -> torch.Tensor:
        """(m, n_views) float: the mask as extra inputs."""
        return self.mask.to(self.tokens[0].dtype)


def _rows(index: torch.Tensor, limit: int = 10) -> str:
    rows = index.tolist()
    more = f" … ({len(rows)} rows)" if len(rows) > limit else ""
    return ", ".join(map(str, rows[:limit])) + more


class FusionModule(nn.Module):
    """Base of the fusion modules: validates and masks the inputs, subclasses fuse.

    Args:
        dims: view name → input width (token width for a sequence view), in view order.
        out_dim: width of the fused output.

    Subclasses implement :meth:`fuse` on a :class:`Batch`, and pass their own options to
    ``super().__init__`` so that :meth:`get_config` can rebuild them (``make_fusion(**cfg)``).
    """

    #: registry name (see :data:`jointspace.fusion.factory.FUSIONS`)
    name: str = ""

    def __init__(self, dims: Mapping[str, int], out_dim: int, **options: Any):
        super().__init__()
        if not isinstance(dims, Mapping) or not dims:
            raise ValueError("dims must be a non-empty dict of view name → width")
        for view, width in dims.items():
            if not isinstance(view, str):
                raise ValueError(f"view names must be strings; got {view!r}")
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                raise ValueError(f"dims[{view!r}]={width!r}; expected a positive int")
        if isinstance(out_dim, bool) or not isinstance(out_dim, int) or out_dim < 1:
            raise ValueError(f"out_dim={out_dim!r}; expected a positive int")
        self.dims = {str(k): int(v) for k, v in dims.items()}
        self.view_names = tuple(self.dims)
        self.out_dim = int(out_dim)
        self._options = dict(options)

    @property
    def n_views(self) -> int:
        return len(self.view_names)

    def get_config(self) -> dict[str, Any]:
        """JSON-ready constructor arguments: ``make_fusion(**module.get_config())`` rebuilds it."""
        return {"name": self.name, "dims": dict(self.dims), "out_dim": self.out_dim,
                **self._options}

    def forward(
        self,
        views: Mapping[str, torch.Tensor],
        mask: torch.Tensor,
        token_mask: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Fuse ``views`` under ``mask`` (see the module docstring) → (m, out_dim)."""
        return self.fuse(self.prepare(views, mask, token_mask))

    @abstractmethod
    def fuse(self, batch: Batch) -> torch.Tensor:
        """The fused output (m, out_dim) of a validated, masked batch."""

    def prepare(
        self,
        views: Mapping[str, torch.Tensor],
        mask: torch.Tensor,
        token_mask: Mapping[str, torch.Tensor] | None = None,
    ) -> Batch:
        """Validate the inputs and zero everything unobserved (see the module docstring).

        Views and masks may be numpy arrays; views are cast to the parameters' dtype and
        moved to their device. A view may be left out of ``views`` when no row observes it
        (its token mask, if given, is then ignored).
        """
        token_mask = dict(token_mask or {})
        extra = (set(views) | set(token_mask)) - set(self.view_names)
        if extra:
            raise ValueError(f"unknown views {sorted(extra)}; this module fuses "
                             f"{list(self.view_names)}")
        mask = torch.as_tensor(mask)
        if mask.dtype != torch.bool:
            if mask.is_floating_point() or mask.is_complex():
                raise ValueError(f"mask must be bool (or 0/1 integers); got {mask.dtype}")
            mask = mask != 0
        if mask.dim() != 2 or mask.shape[1] != self.n_views:
            raise ValueError(f"mask has shape {tuple(mask.shape)}; expected (m, {self.n_views})")
        m = mask.shape[0]
        empty = (~mask.any(dim=1)).nonzero().flatten()
        if len(empty):
            raise ValueError(f"rows with no observed view: {_rows(empty)}")
        param = next(self.parameters(), None)
        device = param.device if param is not None else mask.device
        dtype = param.dtype if param is not None else torch.get_default_dtype()
        mask = mask.to(device)
        tokens, token_masks = [], []
        for j, view in enumerate(self.view_names):
            present = mask[:, j]
            if view not in views:
                if present.any():
                    raise ValueError(f"view {view!r} is observed in some rows but not given")
                x = torch.zeros(m, 1, self.dims[view], dtype=dtype, device=device)
                tm = torch.zeros(m, 1, dtype=torch.bool, device=device)
            else:
                x = self._check_view(view, views[view], m).to(device=device, dtype=dtype)
                tm = self._token_mask(view, token_mask.get(view), x, present)
            x = torch.where(tm[:, :, None], x, torch.zeros((), dtype=dtype, device=device))
            if not torch.isfinite(x).all():
                bad = (~torch.isfinite(x)).flatten(1).any(dim=1).nonzero().flatten()
                raise ValueError(f"view {view!r} has non-finite values in observed rows "
                                 f"{_rows(bad)} (mark missing views in the mask instead)")
            tokens.append(x)
            token_masks.append(tm)
        return Batch(tokens, token_masks, mask)

    def _check_view(self, view: str, x: torch.Tensor, m: int) -> torch.Tensor:
        x = torch.as_tensor(x)
        if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64, torch.bool)):
            raise ValueError(f"view {view!r} has dtype {x.dtype}; expected floats")
        if x.dim() == 2:
            x = x[:, None, :]
        if x.dim() != 3 or x.shape[0] != m or x.shape[2] != self.dims[view] or x.shape[1] < 1:
            raise ValueError(f"view {view!r} has shape {tuple(x.shape)}; expected ({m}, "
                             f"{self.dims[view]}) or ({m}, t, {self.dims[view]}) with t ≥ 1")
        return x

    @staticmethod
    def _token_mask(
        view: str, given: torch.Tensor | None, x: torch.Tensor, present: torch.Tensor
    ) -> torch.Tensor:
        """(m, t) bool: real tokens of observed views."""
        m, t = x.shape[:2]
        if given is None:
            return present[:, None].expand(m, t)
        given = torch.as_tensor(given, device=x.device)
        if given.shape != (m, t):
            raise ValueError(f"token_mask[{view!r}] has shape {tuple(given.shape)}; "
                             f"expected ({m}, {t})")
        tm = (given != 0) & present[:, None]
        no_token = (present & ~tm.any(dim=1)).nonzero().flatten()
        if len(no_token):
            raise ValueError(f"view {view!r} is observed but has no token in rows "
                             f"{_rows(no_token)}")
        return tm

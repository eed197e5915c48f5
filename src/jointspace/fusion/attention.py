"""Attention fusion: self-attention within each view then across views, cross-attention
between views (MulT-style pairs), and co-attention (ViLBERT-style streams)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from jointspace.fusion.base import Batch, FusionModule, masked_mean

MODES = ("self", "cross", "co")


class AttentionBlock(nn.Module):
    """A pre-norm transformer block: queries (m, q, e) attend to keys (m, k, e), then an FFN.

    ``key_padding`` (m, k) bool marks keys to ignore (True). With ``null_key`` a learned key
    and value are always attendable (``add_bias_kv``), so a row whose keys are all ignored
    is still defined: it attends to the null key only.
    """

    def __init__(self, embed_dim: int, heads: int, dropout: float = 0.0,
                 null_key: bool = False):
        super().__init__()
        self.norm_q, self.norm_kv = nn.LayerNorm(embed_dim), nn.LayerNorm(embed_dim)
        self.attention = nn.MultiheadAttention(embed_dim, heads, dropout=dropout,
                                               batch_first=True, add_bias_kv=null_key)
        self.norm_ffn = nn.LayerNorm(embed_dim)
        self.ffn = nn.Sequential(nn.Linear(embed_dim, 2 * embed_dim), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(2 * embed_dim, embed_dim))

    def forward(self, q: torch.Tensor, kv: torch.Tensor,
                key_padding: torch.Tensor) -> torch.Tensor:
        """(m, q, e), (m, k, e), (m, k) bool → (m, q, e)."""
        kv = self.norm_kv(kv)
        attended, _ = self.attention(self.norm_q(q), kv, kv, key_padding_mask=key_padding,
                                     need_weights=False)
        y = q + attended
        return y + self.ffn(self.norm_ffn(y))


def _within_padding(token_mask: torch.Tensor) -> torch.Tensor:
    """Key padding for attention within one view: its padded tokens; a missing view's row
    (no real token) pads nothing, so it stays defined — its result is never used."""
    return ~token_mask & token_mask.any(dim=1, keepdim=True)


class AttentionFusion(FusionModule):
    """Attention over the views' tokens; a 2-D view is one token.

    Every view's tokens are projected to ``embed_dim`` and tagged with a learned view
    embedding. Then, by ``mode``:

    - ``"self"``: ``layers`` self-attention blocks within each view (its own parameters),
      the mean of each view's tokens as its summary, then ``layers`` self-attention blocks
      across the view summaries (missing views are padded keys);
    - ``"cross"``: for each ordered pair (target, source) of views, the target's tokens attend
      to the source's tokens through ``layers`` blocks of that pair (MulT, Tsai et al. 2019);
      a target is the mean over its observed sources, or its own tokens when it has none;
    - ``"co"``: ``layers`` co-attention layers (ViLBERT, Lu et al. 2019, for n streams): each
      view's stream attends to the other streams' tokens (a learned null key keeps a lone
      stream defined), then to itself; every stream has its own parameters.

    The output is a Linear layer on the mean over the observed views of their token means.

    Args:
        dims, out_dim: see :class:`~jointspace.fusion.base.FusionModule`.
        mode: "self", "cross" or "co".
        embed_dim, heads: of every attention (embed_dim divisible by heads).
        layers: blocks per stage.
        dropout: in attention and FFNs.
    """

    def __init__(
        self,
        dims: Mapping[str, int],
        out_dim: int,
        mode: str = "self",
        embed_dim: int = 64,
        heads: int = 4,
        layers: int = 1,
        dropout: float = 0.0,
    ):
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}; expected one of {', '.join(MODES)}")
        if embed_dim % heads:
            raise ValueError(f"embed_dim={embed_dim} is not divisible by heads={heads}")
        if layers < 1:
            raise ValueError(f"layers={layers}; expected at least 1")
        super().__init__(dims, out_dim, embed_dim=int(embed_dim), heads=int(heads),
                         layers=int(layers), dropout=dropout)
        self.mode = mode
        n = self.n_views
        self.inputs = nn.ModuleList(nn.Linear(d, embed_dim) for d in self.dims.values())
        self.view_embedding = nn.Parameter(0.02 * torch.randn(n, embed_dim))

        def stack(null_key: bool = False) -> nn.ModuleList:
            return nn.ModuleList(AttentionBlock(embed_dim, heads, dropout, null_key)
                                 for _ in range(layers))

        if mode == "self":
            self.within = nn.ModuleList(stack() for _ in range(n))
            self.across = stack()
        elif mode == "cross":
            #: pairs[t * (n - 1) + k]: target t, k-th other view as source
            self.pairs = nn.ModuleList(stack() for _ in range(n * (n - 1)))
        else:
            self.co = nn.ModuleList(stack(null_key=True) for _ in range(n))
            self.own = nn.ModuleList(stack() for _ in range(n))
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, out_dim)

    @property
    def name(self) -> str:  # type: ignore[override]
        """The registry name: "self-attention", "cross-attention" or "co-attention"."""
        return f"{self.mode}-attention"

    def embed(self, batch: Batch) -> list[torch.Tensor]:
        """Per view (m, t_v, embed_dim): projected tokens plus the view embedding; 0 where a
        token is padded or its view missing."""
        out = []
        for j, (proj, x, tm) in enumerate(zip(self.inputs, batch.tokens, batch.token_masks)):
            e = proj(x) + self.view_embedding[j]
            out.append(torch.where(tm[:, :, None], e, torch.zeros_like(e)))
        return out

    def fuse(self, batch: Batch) -> torch.Tensor:
        tokens, tms = self.embed(batch), batch.token_masks
        if self.mode == "self":
            summaries = self._self(tokens, tms, batch.mask)
        elif self.mode == "cross":
            summaries = self._cross(tokens, tms, batch.mask)
        else:
            summaries = self._co(tokens, tms)
        return self.head(self.norm(masked_mean(summaries, batch.mask, dim=1)))

    def _self(self, tokens: list[torch.Tensor], tms: list[torch.Tensor],
              mask: torch.Tensor) -> torch.Tensor:
        """(m, n, e): view summaries after attention within, then across views."""
        summaries = []
        for blocks, z, tm in zip(self.within, tokens, tms):
            for block in blocks:
                z = block(z, z, _within_padding(tm))
            summaries.append(masked_mean(z, tm, dim=1))
        s = torch.stack(summaries, dim=1)
        for block in self.across:
            s = block(s, s, ~mask)
        return s

    def _cross(self, tokens: list[torch.Tensor], tms: list[torch.Tensor],
               mask: torch.Tensor) -> torch.Tensor:
        """(m, n, e): each target's mean over its observed sources of its attended tokens."""
        n = self.n_views
        summaries = []
        for t in range(n):
            sources = [s for s in range(n) if s != t]
            per_source = []
            for k, s in enumerate(sources):
                z = tokens[t]
                for block in self.pairs[t * (n - 1) + k]:
                    z = block(z, tokens[s], _within_padding(tms[s]))
                per_source.append(masked_mean(z, tms[t], dim=1))
            own = masked_mean(tokens[t], tms[t], dim=1)
            if not sources:
                summaries.append(own)
                continue
            observed = mask[:, sources]
            crossed = masked_mean(torch.stack(per_source, dim=1), observed, dim=1)
            summaries.append(torch.where(observed.any(dim=1, keepdim=True), crossed, own))
        return torch.stack(summaries, dim=1)

    def _co(self, tokens: list[torch.Tensor], tms: list[torch.Tensor]) -> torch.Tensor:
        """(m, n, e): each stream's token mean after the co-attention layers."""
        n = self.n_views
        streams = list(tokens)
        for layer in range(len(self.own[0])):
            if n > 1:  # every stream attends to the others' tokens of the previous layer
                streams = [
                    self.co[v][layer](
                        streams[v],
                        torch.cat([streams[u] for u in range(n) if u != v], dim=1),
                        ~torch.cat([tms[u] for u in range(n) if u != v], dim=1),
                    )
                    for v in range(n)
                ]
            streams = [self.own[v][layer](z, z, _within_padding(tm))
                       for v, (z, tm) in enumerate(zip(streams, tms))]
        return torch.stack([masked_mean(z, tm, dim=1) for z, tm in zip(streams, tms)], dim=1)

"""Temporal towers for video views: rows of T per-frame feature vectors (the
``video-frames`` encoder's) → one embedding, through a per-frame projection and a pooling
over time that ignores order ("mean") or reads it ("conv": temporal 1-D convolutions;
"transformer": self-attention over frames with learned position embeddings)."""

from __future__ import annotations

import torch
from torch import nn

from jointspace.layers import make_activation

POOLS = ("mean", "conv", "transformer")


class TemporalTower(nn.Module):
    """(m, T·F) frame-major rows → (m, out_dim).

    Args:
        in_dim, out_dim: the flat input width T·F and the output width.
        frames: T (``in_dim`` must be a multiple of it).
        pool: "mean", "conv" or "transformer".
        width: the per-frame projection's width (and the model width of the pooling).
        layers: convolution or transformer layers.
        heads: attention heads ("transformer").
        kernel: temporal kernel size ("conv").
        activation, dropout: of the projection and the pooling layers.
    """

    def __init__(self, in_dim: int, out_dim: int, frames: int, pool: str = "transformer",
                 width: int = 128, layers: int = 2, heads: int = 4, kernel: int = 3,
                 activation: str = "gelu", dropout: float = 0.1):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool={pool!r}; expected one of {POOLS}")
        if frames < 1 or in_dim % frames:
            raise ValueError(f"a temporal tower of {frames} frames cannot read {in_dim}-wide "
                             "rows (expected a multiple of the frame count)")
        self.frames, self.pool = int(frames), pool
        self.project = nn.Sequential(nn.Linear(in_dim // frames, width),
                                     make_activation(activation), nn.Dropout(dropout))
        if pool == "conv":
            self.temporal = nn.Sequential(*[
                module for _ in range(layers) for module in (
                    nn.Conv1d(width, width, kernel, padding=kernel // 2),
                    make_activation(activation))])
        elif pool == "transformer":
            self.position = nn.Parameter(torch.zeros(frames, width))
            nn.init.normal_(self.position, std=0.02)
            layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout,
                                               activation="gelu", batch_first=True)
            self.temporal = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, out_dim)

    def forward(self, x):  # noqa: ANN001, ANN201 - torch convention
        h = self.project(x.reshape(len(x), self.frames, -1))  # (m, T, width)
        if self.pool == "conv":
            h = self.temporal(h.transpose(1, 2)).transpose(1, 2)
        elif self.pool == "transformer":
            h = self.temporal(h + self.position)
        return self.head(h.mean(dim=1))

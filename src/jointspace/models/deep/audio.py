"""An audio tower for log-mel rows (the ``log-mel`` encoder's): a small CNN over (mel, time)
whose frequency axis is then folded into channels, and attention pooling over time that
ignores padding (frames at the encoder's floor)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from jointspace.layers import make_activation


class AttentionPool(nn.Module):
    """Attention pooling over time: (m, T, d) and a validity mask (m, T) → (m, d).

    Each frame gets a score ``vᵀ tanh(W h_t)``; the weights are the softmax of the scores over
    the valid frames (a masked frame has weight 0), and the output is Σ_t w_t h_t. A row
    without a valid frame is pooled over all its frames.
    """

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def weights(self, h: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """(m, T) weights: non-negative, 0 on masked frames, summing to 1 over each row."""
        scores = self.score(h).squeeze(-1)  # (m, T)
        if valid is not None:
            valid = valid.bool() | ~valid.bool().any(dim=1, keepdim=True)
            scores = scores.masked_fill(~valid, float("-inf"))
        return torch.softmax(scores, dim=1)

    def forward(self, h: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return torch.einsum("mt,mtd->md", self.weights(h, valid), h)


class AudioCNNTower(nn.Module):
    """(m, T·M) frame-major log-mel rows in dB (floor ``floor``, peak 0) → (m, out_dim).

    A frame whose every band is at the floor (padding after a short clip, or digital
    silence) is masked: its values are zeroed before and after every block, and attention
    pooling gives it no weight, so the output depends on the valid frames alone (the same
    clip padded to more frames gives the same output).

    Layers: the dB values scaled to [0, 1] ((x − floor) / −floor); blocks of Conv3×3 →
    BatchNorm → activation → MaxPool 2×2 over (mel, time); the remaining mel bins folded into
    channels, a per-frame Linear to ``width``, attention pooling over time, a Linear head.

    Its input is dB values, not standardized features: ``feature_input = False`` tells the
    models never to standardize it nor add input noise (which would hide the padding).

    Args:
        in_dim, out_dim: the flat input width T·M and the output width.
        mels: M (``in_dim`` must be a multiple of it); ``frames``: T, or None (in_dim / M).
        channels: output channels of each block (M and T must be at least 2^blocks).
        width: the per-frame width pooled over time.
        activation, dropout: of the blocks' activation and the per-frame projection.
        floor: the encoder's floor in dB (``-top_db`` of the ``log-mel`` encoder).
    """

    feature_input = False

    def __init__(self, in_dim: int, out_dim: int, mels: int = 64, frames: int | None = None,
                 channels: Sequence[int] = (16, 32, 64), width: int = 128,
                 activation: str = "relu", dropout: float = 0.1, floor: float = -80.0):
        super().__init__()
        if mels < 1 or in_dim % mels:
            raise ValueError(f"an audio-cnn tower of {mels} mel bands cannot read {in_dim}-wide "
                             "rows (expected a multiple of the band count)")
        frames = in_dim // mels if frames is None else int(frames)
        if frames * mels != in_dim:
            raise ValueError(f"an audio-cnn tower of {frames} frames × {mels} mel bands reads "
                             f"{frames * mels}-wide rows; the view has {in_dim}")
        scale = 2 ** len(channels)
        if mels < scale or frames < scale:
            raise ValueError(f"an audio-cnn tower with {len(channels)} blocks needs at least "
                             f"{scale} mel bands and frames; got {mels} × {frames}")
        if not floor < 0:
            raise ValueError(f"floor={floor}; expected the encoder's floor in dB (< 0)")
        self.mels, self.frames, self.floor = int(mels), frames, float(floor)
        self.blocks = nn.ModuleList()
        c_in = 1
        for c in channels:
            self.blocks.append(nn.Sequential(nn.Conv2d(c_in, c, 3, padding=1),
                                             nn.BatchNorm2d(c), make_activation(activation)))
            c_in = c
        folded = c_in * (mels // scale)
        self.project = nn.Sequential(nn.Linear(folded, width), make_activation(activation),
                                     nn.Dropout(dropout))
        self.pool = AttentionPool(width)
        self.head = nn.Linear(width, out_dim)

    def valid_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(m, T·M) rows → (m, T) bool: frames with a band above the floor."""
        return x.reshape(len(x), self.frames, self.mels).amax(dim=2) > self.floor + 1e-4

    def frame_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(m, T·M) → per-frame features (m, T', width) and their validity (m, T'),
        T' = T / 2^blocks."""
        valid = self.valid_frames(x)
        h = (x.reshape(len(x), self.frames, self.mels) - self.floor) / -self.floor
        h = h.transpose(1, 2).unsqueeze(1) * valid[:, None, None, :]  # (m, 1, M, T)
        keep = valid.float()
        for block in self.blocks:
            h = block(h) * keep[:, None, None, :]
            h = F.max_pool2d(h, 2)
            keep = F.max_pool1d(keep.unsqueeze(1), 2).squeeze(1)
            h = h * keep[:, None, None, :]
        m, c, b, t = h.shape
        return self.project(h.permute(0, 3, 1, 2).reshape(m, t, c * b)), keep > 0

    def forward(self, x):  # noqa: ANN001, ANN201 - torch convention
        h, valid = self.frame_features(x)
        return self.head(self.pool(h, valid))

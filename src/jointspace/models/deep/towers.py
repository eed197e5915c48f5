"""Towers: the per-view networks of the deep models (MLP, a small CNN, all-MiniLM-L6-v2 with its
top layers fine-tuned, or the user's own)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn

from jointspace.layers import ACTIVATIONS, MLP, make_activation, widths

__all__ = ["ACTIVATIONS", "CNN", "MLP", "build_tower", "takes_features", "widths"]

class CNN(nn.Module):
    """Small convolutional tower for image views given as flat rows: (m, C·H·W) → (m, out_dim).

    Blocks of Conv3×3 → BatchNorm → activation → MaxPool2, then global average pooling and
    a Linear layer. A flat row is reshaped to (C, H, W); a square grayscale image is
    inferred when ``image_shape`` is None.

    Args:
        in_dim, out_dim: flat input width (C·H·W) and output width.
        image_shape: (C, H, W), or None for a square single-channel image.
        channels: output channels of each convolutional block.
        activation: one of :data:`ACTIVATIONS`.
        layout: how a flat row is ordered: "chw" (channels first) or "hwc" (channels last,
            as the ``pixels`` encoder writes RGB images).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        image_shape: Sequence[int] | None = None,
        channels: Sequence[int] = (32, 64),
        activation: str = "relu",
        layout: str = "chw",
    ):
        super().__init__()
        if layout not in ("chw", "hwc"):
            raise ValueError(f"layout={layout!r}; expected 'chw' or 'hwc'")
        self.layout = layout
        if image_shape is None:
            side = math.isqrt(in_dim)
            if side * side != in_dim:
                raise ValueError(
                    f"a CNN tower needs image_shape for a {in_dim}-d view (not a square image)"
                )
            image_shape = (1, side, side)
        if math.prod(image_shape) != in_dim:
            raise ValueError(
                f"image_shape {tuple(image_shape)} has {math.prod(image_shape)} "
                f"values; the view has {in_dim}"
            )
        self.image_shape = tuple(int(s) for s in image_shape)
        blocks: list[nn.Module] = []
        c_in = self.image_shape[0]
        for c in channels:
            blocks += [
                nn.Conv2d(c_in, c, 3, padding=1),
                nn.BatchNorm2d(c),
                make_activation(activation),
                nn.MaxPool2d(2),
            ]
            c_in = c
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c_in, out_dim)

    def forward(self, x):  # noqa: ANN001, ANN201 - torch convention
        c, h, w = self.image_shape
        if self.layout == "hwc":
            x = x.reshape(-1, h, w, c).permute(0, 3, 1, 2)
        return self.head(self.features(x.reshape(-1, c, h, w)))


def takes_features(tower: nn.Module) -> bool:
    """Whether a tower's input is features (standardized, and noised in training, by the
    models that do so) rather than codes passed as given, such as token ids: a tower says
    so with a class attribute ``feature_input = False`` (default True)."""
    return bool(getattr(tower, "feature_input", True))


def build_tower(spec: Any, in_dim: int, out_dim: int, **mlp_options: Any) -> nn.Module:
    """A tower from its spec: "mlp", "linear", "cnn", "temporal" (video rows of per-frame
    features: ``{"kind": "temporal", "frames": 20, "pool": "transformer"}``, see
    :class:`~jointspace.models.deep.temporal.TemporalTower`), "audio-cnn" (log-mel rows of
    the ``log-mel`` encoder: ``{"kind": "audio-cnn", "mels": 64}``, see
    :class:`~jointspace.models.deep.audio.AudioCNNTower`), "minilm" (token rows of the
    ``minilm-tokens`` encoder through all-MiniLM-L6-v2, its top layers fine-tuned: see
    :class:`~jointspace.models.deep.minilm.MiniLMTower`), a dict ``{"kind": ..., **options}``
    (e.g. ``{"kind": "minilm", "train_layers": 2}``), or an ``nn.Module`` (used as given: it
    must map (m, in_dim) to (m, out_dim)).

    ``mlp_options`` (hidden, activation, dropout, batch_norm) apply to "mlp".
    """
    if isinstance(spec, nn.Module):
        return spec
    options: dict[str, Any] = {}
    if isinstance(spec, dict):
        options = {k: v for k, v in spec.items() if k != "kind"}
        spec = spec.get("kind", "mlp")
    if spec == "mlp":
        return MLP(in_dim, out_dim, **{**mlp_options, **options})
    if spec == "linear":
        return MLP(in_dim, out_dim, hidden=())
    if spec == "cnn":
        return CNN(in_dim, out_dim, **options)
    if spec == "temporal":
        from jointspace.models.deep.temporal import TemporalTower

        return TemporalTower(in_dim, out_dim, **options)
    if spec == "audio-cnn":
        from jointspace.models.deep.audio import AudioCNNTower

        return AudioCNNTower(in_dim, out_dim, **options)
    if spec == "minilm":
        from jointspace.models.deep.minilm import MiniLMTower  # transformers loads on use

        return MiniLMTower(in_dim, out_dim, **options)
    raise ValueError(
        f"tower {spec!r}; expected 'mlp', 'linear', 'cnn', 'minilm', 'temporal' (a dict with "
        "its frames), 'audio-cnn', a dict or an nn.Module"
    )

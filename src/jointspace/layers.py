"""Torch building blocks shared by the deep models' towers and the fusion modules (below
both layers): activations by name, the MLP, hidden-layer widths."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

#: activation name → module class
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
}


def make_activation(name: str) -> nn.Module:
    """A new activation module by name (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Sequential):
    """Fully connected tower: (m, in_dim) → (m, out_dim).

    Each hidden layer is Linear → [BatchNorm1d] → activation → [Dropout]; the last layer
    is Linear. ``hidden=()`` gives a linear tower.

    Args:
        in_dim, out_dim: input and output widths.
        hidden: widths of the hidden layers.
        activation: one of :data:`ACTIVATIONS`.
        dropout: dropout probability after each hidden activation.
        batch_norm: batch normalization before each hidden activation.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (1024, 1024),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_dim))
        super().__init__(*layers)


def widths(hidden: int | Sequence[int]) -> tuple[int, ...]:
    """Hidden-layer widths as a tuple (one int is one layer)."""
    return (int(hidden),) if isinstance(hidden, int) else tuple(int(h) for h in hidden)

"""The one spec grammar of models and encoders: ``name[:positional][:key=value]…``.

``dual-encoder:loss=siglip:n_hard=32``, ``pixels:size=64``, ``hf:/models/sbert:batch_size=8``.
Values are parsed by :func:`parse_value`; ``+`` between encoder specs concatenates encoders
(see :func:`jointspace.encoders.make_encoder`). This module imports nothing heavy.
"""

from __future__ import annotations

from typing import Any


def parse_value(text: str) -> Any:
    """A parameter value from text: int, float, true/false, none, a "/"-separated tuple of
    numbers (``hidden=512/512``, ``reg=0.1/0.2``), else the string itself (so a path such as
    ``checkpoint_dir=runs/dcca`` stays a path)."""
    if "/" in text:
        parts = [parse_value(t) for t in text.split("/") if t]
        numbers = all(isinstance(p, int | float) and not isinstance(p, bool) for p in parts)
        return tuple(parts) if parts and numbers else text
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def split_spec(spec: str) -> tuple[str, list[str]]:
    """``"name:a:b=1"`` → ``("name", ["a", "b=1"])`` (name and parts stripped)."""
    name, *parts = spec.split(":")
    return name.strip(), [p.strip() for p in parts]


def parse_options(parts: list[str], spec: str, what: str = "spec") -> dict[str, Any]:
    """``["key=value", …]`` → ``{key: parse_value(value)}`` (dashes in keys become underscores).

    Raises:
        ValueError: a part without "=" or with an empty key (names the spec).
    """
    options: dict[str, Any] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} {spec!r}: option {part!r}; expected key=value")
        options[key.strip().replace("-", "_")] = parse_value(value.strip())
    return options

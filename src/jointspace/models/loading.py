"""Load whatever model a directory holds: a joint model or a fusion head."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jointspace import persistence
from jointspace.models.base import JointModel


def load_model(path: str | os.PathLike, **params: Any) -> Any:
    """The model saved in ``path``: a :class:`JointModel` or a fusion head
    (:class:`~jointspace.models.fusion_heads.FusionClassifier`, ``FusionRegressor``,
    ``FusionEmbedder``), by the class its config records.

    Args:
        path: the model directory.
        **params: passed to the class's ``load`` (settings such as ``device``).
    Raises:
        FileNotFoundError, ValueError: as the class's ``load``.
    """
    root = Path(path)
    module = ""
    if (root / persistence.CONFIG_FILE).is_file():
        module = str(persistence.read_config(root).get("module", ""))
    if module.startswith("jointspace.models.fusion_heads"):
        from jointspace.models.fusion_heads import FusionHeadBase

        return FusionHeadBase.load(path, **params)
    return JointModel.load(path, **params)

"""jointspace: learn a joint representation space for paired multimodal data and search it.

The names below are imported on first use, so that ``import jointspace`` (and the command
line's ``--help``) stays light; ``from jointspace import MultiView`` works as usual.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

#: public name → module that defines it
_LAZY = {
    "MultiView": "jointspace.data.multiview",
    "train_test_split": "jointspace.data.split",
    "load_dataset": "jointspace.data.datasets",
    "Pipeline": "jointspace.pipeline",
    "pair_consistency": "jointspace.pipeline",
    "Retriever": "jointspace.retrieval",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jointspace' has no attribute {name!r}")

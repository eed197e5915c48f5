"""jointspace: learn a joint representation space for paired multimodal data and search it."""

from jointspace.data import MultiView, train_test_split

__version__ = "0.1.0"

__all__ = ["MultiView", "__version__", "load_dataset", "train_test_split"]


def load_dataset(name: str, **options):  # noqa: ANN201 - re-exported, documented there
    """Load a built-in dataset by name; see :func:`jointspace.data.datasets.load_dataset`."""
    from jointspace.data.datasets import load_dataset as _load

    return _load(name, **options)

"""Paired multi-view data: `MultiView`, splits and built-in real datasets."""

from jointspace.data.datasets import DatasetInfo, list_datasets, load_dataset
from jointspace.data.multiview import MultiView, as_multiview
from jointspace.data.split import train_test_split

__all__ = [
    "DatasetInfo",
    "MultiView",
    "as_multiview",
    "list_datasets",
    "load_dataset",
    "train_test_split",
]

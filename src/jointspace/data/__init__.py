"""Paired multi-view data: `MultiView`, splits, built-in real datasets and readers."""

from jointspace.data.datasets import DatasetInfo, list_datasets, load_dataset
from jointspace.data.multiview import MultiView, as_multiview
from jointspace.data.readers import from_audio_folder, from_folder
from jointspace.data.split import train_test_split
from jointspace.data.tables import from_csv, from_npy, from_parquet

__all__ = [
    "DatasetInfo",
    "MultiView",
    "as_multiview",
    "from_audio_folder",
    "from_csv",
    "from_folder",
    "from_npy",
    "from_parquet",
    "list_datasets",
    "load_dataset",
    "train_test_split",
]

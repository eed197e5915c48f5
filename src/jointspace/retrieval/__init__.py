"""Search engines made of a pipeline and an index: :class:`Retriever` answers queries, and
:func:`build_index` builds or updates an index over a collection of images and captions."""

from jointspace.retrieval.build import BuildReport, build_index
from jointspace.retrieval.retriever import Retriever
from jointspace.retrieval.scan import Item, items_from_multiview, scan_folder

__all__ = ["BuildReport", "Item", "Retriever", "build_index", "items_from_multiview", "scan_folder"]

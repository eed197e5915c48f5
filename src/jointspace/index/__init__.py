"""Collections of items in the joint space: LanceDB tables searched through FAISS.

``Index`` is an index directory, ``Collection`` one view's items in it, ``VectorEngine`` the
k-NN engine (exact, HNSW or IVF) over a collection's vectors.
"""

from jointspace.index.collection import METADATA, Collection, filter_sql
from jointspace.index.engine import VectorEngine
from jointspace.index.store import Index, read_index_manifest

__all__ = ["METADATA", "Collection", "Index", "VectorEngine", "filter_sql", "read_index_manifest"]

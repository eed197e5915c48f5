"""The HTTP API and web page of a search index (FastAPI + uvicorn)."""

from jointspace.serve.app import create_app
from jointspace.serve.uploads import UploadLimits

__all__ = ["UploadLimits", "create_app"]

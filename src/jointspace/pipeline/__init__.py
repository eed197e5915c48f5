"""`Pipeline`: raw items → per-view encoder chains → one joint model, saved as one directory
(see :mod:`jointspace.pipeline.core`)."""

from jointspace.pipeline.audit import pair_consistency, shuffle_pairs
from jointspace.pipeline.chains import (
    DEFAULT_ENCODERS,
    IMAGE_TEXT_DEFAULTS,
    default_encoders,
    default_model,
    make_chain,
    run_chain,
)
from jointspace.pipeline.core import Pipeline
from jointspace.pipeline.manifest import data_fingerprint, read_manifest

__all__ = [
    "DEFAULT_ENCODERS",
    "IMAGE_TEXT_DEFAULTS",
    "Pipeline",
    "data_fingerprint",
    "default_encoders",
    "default_model",
    "make_chain",
    "pair_consistency",
    "read_manifest",
    "run_chain",
    "shuffle_pairs",
]

"""The one trainer every deep model uses, and gradient caching for big contrastive batches."""

from jointspace.train.grad_cache import grad_cache_backward
from jointspace.train.trainer import Trainable, Trainer, TrainResult, resolve_device

__all__ = ["TrainResult", "Trainable", "Trainer", "grad_cache_backward", "resolve_device"]

"""The one trainer every deep model uses."""

from jointspace.train.trainer import Trainable, Trainer, TrainResult, resolve_device

__all__ = ["TrainResult", "Trainable", "Trainer", "resolve_device"]

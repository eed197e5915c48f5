"""Deep correlation models on the shared trainer: DCCA, DCCAE, DGCCA; towers."""

from jointspace.models.deep.base import DeepJointModel
from jointspace.models.deep.dcca import DCCA, DCCAE, DGCCA
from jointspace.models.deep.towers import CNN, MLP, build_tower

__all__ = ["CNN", "DCCA", "DCCAE", "DGCCA", "MLP", "DeepJointModel", "build_tower"]

"""Deep models on the shared trainer: the correlation family (DCCA, DCCAE, DGCCA), the
contrastive dual encoder and the multimodal VAE (PoE / MoE / MoPoE); towers (including
all-MiniLM-L6-v2 fine-tuned as a text tower)."""

from jointspace.models.deep.autoencoder import SplitAutoencoder
from jointspace.models.deep.base import DeepCorrelationModel, DeepJointModel
from jointspace.models.deep.contrastive import ContrastiveDualEncoder
from jointspace.models.deep.dcca import DCCA, DCCAE, DGCCA
from jointspace.models.deep.gan import ConditionalViewGAN
from jointspace.models.deep.minilm import MiniLMTower
from jointspace.models.deep.towers import CNN, MLP, build_tower
from jointspace.models.deep.vae import MultimodalVAE

__all__ = [
    "CNN",
    "ConditionalViewGAN",
    "DCCA",
    "DCCAE",
    "DGCCA",
    "MLP",
    "MiniLMTower",
    "MultimodalVAE",
    "SplitAutoencoder",
    "ContrastiveDualEncoder",
    "DeepCorrelationModel",
    "DeepJointModel",
    "build_tower",
]

"""Export a fitted joint model's views to ONNX: for each view, one float32 graph that does
what the model's ``transform_view`` does on that view's features, (m, d_view) → (m, k).

- :class:`~jointspace.models.deep.contrastive.ContrastiveDualEncoder`: the standardization of
  the inputs kept with the model, the view's encoder (tower + projection), L2 normalization;
- the deep correlation models (DCCA, DCCAE, DGCCA): the tower, then the linear CCA/GCCA head;
- :class:`~jointspace.models.deep.autoencoder.SplitAutoencoder`,
  :class:`~jointspace.models.deep.vae.MultimodalVAE`: the view's encoder (the posterior mean);
- the linear models with one projection per view (CCA, PLS, MCCA, GCCA): (x − mean) W.

Towers: every built-in tower (MLP, linear, CNN, temporal, the fine-tuned ``minilm`` tower) and
a user's ``nn.Module`` if torch's ONNX exporter can trace it. Kernel CCA (its embedding is a
kernel against the training rows) and other models are refused with an error naming them.
int8: ONNX Runtime's dynamic quantization of the MatMul / Gemm weights.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from jointspace.models.base import JointModel

#: the linear models whose view i embeds as (x − means_[i]) @ weights_[i]
LINEAR_MODELS = ("CCA", "PLS", "MCCA", "GCCA")


class _ViewGraph(nn.Module):
    """(m, d) float32 → (m, k): standardize, encode, then normalize or project."""

    def __init__(self, encoder: nn.Module | None, *, mean: Any = None, scale: Any = None,
                 head_mean: Any = None, head_weight: Any = None, normalize: bool = False):
        super().__init__()
        self.encoder = encoder
        self.normalize = normalize
        for name, value in (("mean", mean), ("scale", scale)):
            tensor = None if value is None else torch.as_tensor(np.asarray(value, np.float32))
            self.register_buffer(name, tensor)
        for name, value in (("head_mean", head_mean), ("head_weight", head_weight)):
            tensor = None if value is None else torch.as_tensor(np.asarray(value, np.float64))
            self.register_buffer(name, tensor)  # float64: outputs near the mean cancel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is not None:
            x = (x - self.mean) / self.scale
        if self.encoder is not None:
            x = self.encoder(x)
        if self.head_weight is not None:
            x = ((x.double() - self.head_mean) @ self.head_weight).float()
        if self.normalize:
            x = x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(1e-12)
        return x


class _TracedMiniLM(nn.Module):
    """A ``minilm`` tower with a forward ONNX can trace: the whole padded width in one
    pass (the tower's own forward groups rows by length; the outputs are the same)."""

    def __init__(self, tower: nn.Module):
        super().__init__()
        self.tower = tower

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[1] // 2
        ids, mask = x[:, :width].round().long(), x[:, width:].round().long()
        hidden = self.tower.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return self.tower.head(pooled)


def _traceable(module: nn.Module) -> nn.Module:
    """``module`` with any ``minilm`` tower inside it made traceable."""
    from jointspace.models.deep.minilm import MiniLMTower

    if isinstance(module, MiniLMTower):
        return _TracedMiniLM(module)
    for name, child in module.named_children():
        if isinstance(child, MiniLMTower):
            setattr(module, name, _TracedMiniLM(child))
    return module


def view_module(model: JointModel, i: int) -> nn.Module:
    """A float32 module computing ``model.transform_view(i, ·)`` on view i's features.

    Raises:
        ValueError: a model that cannot be exported (names it and what can be).
    """
    from jointspace.models.deep.autoencoder import SplitAutoencoder
    from jointspace.models.deep.base import DeepCorrelationModel
    from jointspace.models.deep.contrastive import ContrastiveDualEncoder
    from jointspace.models.deep.vae import MultimodalVAE
    from jointspace.models.linear.cca import _CovarianceModel

    name = type(model).__name__
    if isinstance(model, _CovarianceModel):
        return _ViewGraph(None, head_mean=model.means_[i], head_weight=model.weights_[i])
    if not isinstance(model, ContrastiveDualEncoder | DeepCorrelationModel | SplitAutoencoder
                      | MultimodalVAE):
        raise ValueError(
            f"a {name} cannot be exported to ONNX; exportable models: "
            "ContrastiveDualEncoder, DCCA, DCCAE, DGCCA, SplitAutoencoder, MultimodalVAE, "
            f"{', '.join(LINEAR_MODELS)}"
            + (" (kernel CCA embeds against its training rows)" if name == "KCCA" else ""))
    import copy

    encoder = _traceable(copy.deepcopy(model.network_.view_encoder(i)).float().eval())
    if isinstance(model, ContrastiveDualEncoder):
        standardized = model._standardized_views(model.network_)[i]
        return _ViewGraph(
            encoder, normalize=True,
            mean=model.input_means_[i] if standardized else None,
            scale=model.input_scales_[i] if standardized else None)
    if isinstance(model, DeepCorrelationModel):
        return _ViewGraph(encoder, head_mean=model.head_means_[i],
                          head_weight=model.head_weights_[i])
    return _ViewGraph(encoder)


def export_view(model: JointModel, view: str, example: np.ndarray, int8: bool = False) -> bytes:
    """The ONNX graph (bytes) of ``model``'s view ``view``: input ``features`` float32
    (batch, d_view), output ``embedding`` float32 (batch, k).

    Args:
        model: a fitted joint model (see :func:`view_module` for the exportable ones).
        view: the view's name.
        example: a few real rows of the view's features (traced; token ids must be real).
        int8: dynamically quantize the MatMul / Gemm weights to int8.
    Raises:
        ValueError: an unknown view, a model that cannot be exported, or a tower that torch's
            exporter cannot trace (names the view and the tower's class).
    """
    if view not in model.view_names_:
        raise ValueError(f"view {view!r} is not in the model; its views are {model.view_names_}")
    i = model.view_names_.index(view)
    module = view_module(model, i).eval()
    rows = torch.as_tensor(np.asarray(example[:2], dtype=np.float32))
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (rows,), buffer, input_names=["features"],
                              output_names=["embedding"],
                              dynamic_axes={"features": {0: "batch"}, "embedding": {0: "batch"}},
                              opset_version=17, dynamo=False)
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds
        tower = getattr(module, "encoder", None) or module
        if isinstance(tower, nn.Sequential) and len(tower):  # a user's module + projection
            tower = tower[0]
        tower = type(tower).__name__
        raise ValueError(f"view {view!r}: its tower ({tower}) cannot be exported to ONNX "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    data = buffer.getvalue()
    if int8:
        from jointspace.encoders.onnx_files import quantize_dynamic_bytes

        data = quantize_dynamic_bytes(data, ["MatMul", "Gemm"])
    return data

"""Deep CCA (Andrew et al. 2013), Deep CCA autoencoders (Wang et al. 2015) and Deep
generalized CCA (Benton et al. 2019), on the shared trainer and towers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from torch import nn

from jointspace.data.multiview import MultiView
from jointspace.losses import CCALoss, GCCALoss, ReconstructionLoss
from jointspace.models.base import JointModel
from jointspace.models.constraints import NON_NEGATIVE
from jointspace.models.deep.base import DeepCorrelationModel, TowerNetwork
from jointspace.models.deep.towers import MLP, widths
from jointspace.models.linear import CCA, GCCA


class _CorrelationNetwork(TowerNetwork):
    """Towers trained on minus the sum of the top-k minibatch canonical correlations."""

    def __init__(self, towers: Sequence[nn.Module], k: int, reg: float, input_noise: float):
        super().__init__(towers, input_noise)
        self.objective = CCALoss(k, reg)

    def training_loss(self, views: list[torch.Tensor], mask: torch.Tensor) -> dict[str, Any]:
        H1, H2 = self.encode_all(views)
        return self.with_alignment({"loss": self.objective(H1, H2)}, [H1, H2], mask)

    def validation_score(self, views: list[torch.Tensor], mask: torch.Tensor) -> float:
        H1, H2 = self.encode_all(views)
        return float(-self.objective(H1, H2))


class _AutoencoderNetwork(_CorrelationNetwork):
    """The correlation objective plus λ × each view's reconstruction from its tower output."""

    def __init__(
        self,
        towers: Sequence[nn.Module],
        decoders: Sequence[nn.Module],
        k: int,
        reg: float,
        input_noise: float,
        recon_weight: float,
        recon_loss: str,
    ):
        super().__init__(towers, k, reg, input_noise)
        self.decoders = nn.ModuleList(decoders)
        self.recon_weight = recon_weight
        self.reconstruction = ReconstructionLoss(recon_loss)

    def training_loss(self, views: list[torch.Tensor], mask: torch.Tensor) -> dict[str, Any]:
        H = self.encode_all(views)
        corr = self.objective(*H)
        recon = sum(self.reconstruction(dec(h), x) for dec, h, x in zip(self.decoders, H, views))
        terms = {"loss": corr + self.recon_weight * recon, "corr": -corr, "recon": recon}
        return self.with_alignment(terms, H, mask)


class _GeneralizedNetwork(TowerNetwork):
    """Towers of 2+ views trained on the masked deep GCCA objective."""

    def __init__(self, towers: Sequence[nn.Module], k: int, reg: float, input_noise: float):
        super().__init__(towers, input_noise)
        self.objective = GCCALoss(k, reg)

    def training_loss(self, views: list[torch.Tensor], mask: torch.Tensor) -> dict[str, Any]:
        H = self.encode_all(views)
        return self.with_alignment({"loss": self.objective(H, mask)}, H, mask)

    def validation_score(self, views: list[torch.Tensor], mask: torch.Tensor) -> float:
        return float(-self.objective(self.encode_all(views), mask))


class DCCA(DeepCorrelationModel):
    """Deep CCA (Andrew et al. 2013): two towers trained to maximize the sum of the top-k
    canonical correlations of their outputs (:class:`~jointspace.losses.CCALoss`), then a
    linear CCA on the outputs of the whole training set.

    Takes every parameter of :class:`~jointspace.models.deep.base.DeepCorrelationModel`.

    Example:
        >>> model = DCCA(n_components=50, training={"epochs": 30}).fit(train)
        >>> Z_left, Z_right = model.transform(test)          # each (m, 50)
    """

    max_views: ClassVar[int | None] = 2

    def _build_network(self, dims: list[int]) -> TowerNetwork:
        return _CorrelationNetwork(
            self._towers(dims), self.n_components, self.reg, self.training_options.input_noise
        )

    def _fit_head(self, outputs: list[np.ndarray]) -> JointModel:
        return CCA(self.n_components, reg=self.head_reg).fit(outputs)


class DCCAE(DCCA):
    """Deep canonically correlated autoencoders (Wang et al. 2015): DCCA plus a decoder per
    view, trained on −corr + λ Σ_i recon(x_i, dec_i(f_i(x_i))).

    Args (besides DCCA's):
        recon_weight: λ.
        recon_loss: "mse", or "bce" for inputs in [0, 1] (decoders output logits).
        (Decoders are MLPs mirroring the hidden widths.)
    """

    _parameter_constraints: ClassVar[dict] = {
        **DeepCorrelationModel._parameter_constraints,
        "recon_weight": [NON_NEGATIVE],
        "recon_loss": [StrOptions({"mse", "bce"})],
    }

    def __init__(
        self,
        n_components: int = 10,
        *,
        recon_weight: float = 1e-2,
        recon_loss: str = "mse",
        **params: Any,
    ):
        super().__init__(n_components, **params)
        self.recon_weight = recon_weight
        self.recon_loss = recon_loss

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted(set(DeepCorrelationModel._get_param_names()) | {"recon_weight", "recon_loss"})

    def _build_network(self, dims: list[int]) -> TowerNetwork:
        decoders = [
            MLP(self._out_dim, d, hidden=widths(self.hidden)[::-1], activation=self.activation)
            for d in dims
        ]
        return _AutoencoderNetwork(
            self._towers(dims),
            decoders,
            self.n_components,
            self.reg,
            self.training_options.input_noise,
            self.recon_weight,
            self.recon_loss,
        )


class DGCCA(DeepCorrelationModel):
    """Deep generalized CCA (Benton et al. 2019) for two or more views: towers trained on the
    GCCA objective (:class:`~jointspace.losses.GCCALoss`), then a linear GCCA on their
    outputs. Samples with missing views train with those views masked out.

    Takes every parameter of :class:`~jointspace.models.deep.base.DeepCorrelationModel`.
    """

    fits_missing_views: ClassVar[bool] = True

    def _build_network(self, dims: list[int]) -> TowerNetwork:
        return _GeneralizedNetwork(
            self._towers(dims), self.n_components, self.reg, self.training_options.input_noise
        )

    def _fit_head(self, outputs: list[np.ndarray] | MultiView) -> JointModel:
        missing = "model" if isinstance(outputs, MultiView) else None  # rows lacking views
        return GCCA(self.n_components, reg=self.head_reg, missing=missing).fit(outputs)

"""Saving and loading the fusion heads as a model directory (safetensors + JSON, never a
pickle): the network's weights, the fusion module's config, the standardization and the
imputer's statistics, each checked against the others when loaded."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from jointspace.models.estimator_saving import SavedEstimator
from jointspace.models.missing import imputer_arrays, imputer_from_arrays

#: class name → class; :meth:`FusionHeadSaving.load` only instantiates these
FUSION_HEADS: dict[str, type] = {}


class FusionHeadSaving(SavedEstimator):
    """Mixin of :class:`~jointspace.models.fusion_heads.base.FusionHeadBase`: what save /
    load keep (the network's weights, the fusion module's config, the imputer)."""

    _saved_classes = FUSION_HEADS

    def _fitted_state(self) -> dict[str, Any]:
        state = {k: v for k, v in vars(self).items()
                 if k.endswith("_") and not k.startswith("_")}
        network, imputer = state.pop("network_"), state.pop("imputer_")
        state["network_state_"] = {k: v.detach().cpu().numpy()
                                   for k, v in network.state_dict().items()}
        state["fusion_config_"] = network.fusion.get_config()
        state["head_outputs_"] = int(network.head.out_features)
        if imputer is not None:
            state["imputer_state_"] = imputer_arrays(imputer)
        return state

    def _restore(self, fitted: dict[str, Any]) -> None:
        """Set the fitted attributes a save recorded, checked against each other."""
        weights = fitted.pop("network_state_")
        fusion_config = fitted.pop("fusion_config_")
        n_outputs = int(fitted.pop("head_outputs_"))
        imputer = fitted.pop("imputer_state_", None)
        for key, value in fitted.items():
            if not key.endswith("_") or key.startswith("_") or hasattr(type(self), key):
                raise ValueError(f"state entry {key!r} is not a fitted attribute")
            setattr(self, key, value)
        names, dims = list(self.view_names_), [int(d) for d in self.n_features_]
        if len(dims) != len(names) or self.n_views_ != len(names):
            raise ValueError("view_names_, n_views_ and n_features_ disagree")
        for what in ("view_means_", "view_scales_"):
            values = getattr(self, what)
            if (not isinstance(values, list) or len(values) != len(names)
                    or any(v.shape != (d,) for v, d in zip(values, dims))):
                raise ValueError(f"{what} does not hold one ({'d'},) array per view")
            if any(not np.isfinite(v).all() for v in values) or any(
                    (v <= 0).any() for v in self.view_scales_ if what == "view_scales_"):
                raise ValueError(f"{what} holds values a standardization cannot use")
        if fusion_config.get("dims") != dict(zip(names, dims)):
            raise ValueError("the fusion module's views differ from the model's")
        if self.n_components_ != self.n_components:
            raise ValueError(f"n_components is {self.n_components!r} but the fitted width "
                             f"n_components_ is {self.n_components_!r}")
        if fusion_config.get("name") != self.fusion:
            raise ValueError(f"fusion is {self.fusion!r} but the saved module is "
                             f"{fusion_config.get('name')!r}")
        if fusion_config.get("out_dim") != self.n_components_:
            raise ValueError("the fusion module's width differs from n_components_")
        network = self._build_network(fusion_config, n_outputs)
        network.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
        self.network_ = network.eval()
        strategy = self.missing
        if (imputer is None) != (strategy not in ("zero", "mean", "model")):
            raise ValueError(f"missing={strategy!r} but the imputer is "
                             f"{'absent' if imputer is None else 'present'}")
        self.imputer_ = (None if imputer is None
                         else imputer_from_arrays(strategy, 1e-3, names, dims, imputer))
        self._check_restored(n_outputs)
        self._net64 = None

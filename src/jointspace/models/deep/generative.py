"""What the generative models share: decoding one view from others (cross-modal generation,
or imputing a view a sample lacks), in float64 like every deep model's inference."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import torch
from torch import nn


def float64_call(module: nn.Module, *inputs: torch.Tensor) -> Any:
    """``module(*inputs)`` with the module's weights in float64, without gradients (the
    module itself is left as it is)."""
    state = {k: v.double() if v.is_floating_point() else v
             for k, v in [*module.named_parameters(), *module.named_buffers()]}
    with torch.no_grad():
        return torch.func.functional_call(module, state, inputs)


class CrossGeneration:
    """Mixin for a deep joint model with one decoder per view (``network_.decoders``) and a
    joint code over the views a sample has (``_joint_code``)."""

    @abstractmethod
    def _joint_code(self, arrays: list[np.ndarray], mask: np.ndarray) -> np.ndarray:
        """(m, k) code of each row from its observed views (``mask`` (m, n_views))."""

    @abstractmethod
    def _decoder_kinds(self) -> list[str]:
        """Per view, "bernoulli" (the decoder gives logits) or "gaussian" (the mean)."""

    def generate(self, X: Any, *, to_view: str | int, from_view: str | int | None = None
                 ) -> np.ndarray:
        """Decode view ``to_view`` from other views: cross-modal generation or imputation.

        Args:
            X: with ``from_view``: that view's (m, d) rows; without it: views in the form of
                ``fit`` (MultiView with a mask, dict or list), whose observed views other than
                ``to_view`` give the code.
            to_view, from_view: view names (or indices).
        Returns:
            (m, d_to) array: the decoder's mean (probabilities for a Bernoulli view).
        Raises:
            ValueError: a sample with no view besides ``to_view``.
        """
        j = self._view_index(to_view)
        if from_view is not None:
            z = self.transform_view(from_view, X)
        else:
            mv, arrays = self._validate_views(X, fitting=False)
            mask = mv.mask.copy()
            mask[:, j] = False
            if not mask.any(axis=1).all():
                rows = np.flatnonzero(~mask.any(axis=1))
                raise ValueError(f"samples {rows[:5].tolist()} have no view besides "
                                 f"{self.view_names_[j]!r} to generate it from")
            z = self._joint_code(arrays, mask)
        out = float64_call(self.network_.decoders[j], torch.as_tensor(z)).numpy()
        if self._decoder_kinds()[j] == "bernoulli":
            return 1.0 / (1.0 + np.exp(-out))
        return out

"""Bases of the deep models: :class:`DeepJointModel` (training, inference, persistence) and
:class:`DeepCorrelationModel` (towers, then a linear CCA/GCCA head fitted on the towers'
outputs over the whole training set, so ``transform`` returns whitened canonical variates)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from jointspace.data.multiview import MultiView
from jointspace.losses.adversarial import AlignmentTerms
from jointspace.models.base import JointModel
from jointspace.models.constraints import (
    NON_NEGATIVE,
    POSITIVE_INT,
    TRAINING_CONSTRAINTS,
    tower_constraints,
)
from jointspace.models.deep.towers import ACTIVATIONS, build_tower, takes_features, widths
from jointspace.models.missing_views import MISSING_CONSTRAINT
from jointspace.train.options import TrainedModel, TrainingOptions

#: the constraints of the tower layout and Trainer options every deep model takes
DEEP_CONSTRAINTS: dict[str, list[Any]] = {
    **tower_constraints(tuple(ACTIVATIONS), nn.Module),
    "missing": MISSING_CONSTRAINT,
    **TRAINING_CONSTRAINTS,
}

#: rows per forward pass when encoding outside training
ENCODE_CHUNK = 4096


class TowerNetwork(nn.Module):
    """One tower per view (plus whatever a model adds); Gaussian input noise in training.

    Subclasses implement ``training_loss(views, mask)`` and ``validation_score(views, mask)``
    for the :class:`~jointspace.train.Trainer`.
    """

    def __init__(self, towers: Sequence[nn.Module], input_noise: float = 0.0):
        super().__init__()
        self.towers = nn.ModuleList(towers)
        self.input_noise = input_noise
        #: training-only alignment terms (a modality discriminator, cycle translators)
        self.alignment: AlignmentTerms | None = None

    def with_alignment(self, terms: dict[str, Any], H: list[torch.Tensor],
                       mask: torch.Tensor) -> dict[str, Any]:
        """``terms`` plus the weighted alignment terms on the outputs H, when set (training)."""
        if self.alignment and self.training:
            return self.alignment(terms, H, mask)
        return terms

    def view_encoder(self, i: int) -> nn.Module:
        """The network mapping view i's rows to its outputs."""
        return self.towers[i]

    def encode_all(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each view through its tower; noisy inputs in training mode (except for towers
        that read codes such as token ids)."""
        if self.training and self.input_noise > 0:
            views = [
                v + self.input_noise * torch.randn_like(v) if takes_features(t) else v
                for t, v in zip(self.towers, views)
            ]
        return [tower(v) for tower, v in zip(self.towers, views)]


class DeepJointModel(TrainedModel, JointModel):
    """What every deep joint model shares: training through the one
    :class:`~jointspace.train.Trainer` (validation split, seeding, callback), float64
    inference through the network's ``view_encoder(i)``, and saving the network's weights.

    Subclasses define their parameters (``__init__``), ``_build_network(dims)``, ``_out_dim``,
    ``_fit_arrays`` and ``_transform_array``.
    """

    @property
    @abstractmethod
    def _out_dim(self) -> int:
        """Width of the network's per-view outputs."""

    @abstractmethod
    def _build_network(self, dims: list[int]) -> nn.Module:
        """The network for views of widths ``dims``; ``view_encoder(i)`` maps view i."""

    def fit(self, views: Any, y: Any = None, *, callback: Any = None) -> DeepJointModel:
        """Train on paired views (see :meth:`JointModel.fit`).

        Args:
            views: MultiView, dict or list of (n, d_i) arrays.
            y: ignored.
            callback: optional ``callback(epoch, network, history_row)`` after every epoch.
        Returns:
            self.
        """
        self._callback = callback
        try:
            return super().fit(views, y)
        finally:
            del self._callback

    @property
    def _seed(self) -> int:
        return 0 if self.random_state is None else int(self.random_state)

    def _split_rows(
        self, n: int, groups: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Training rows and validation rows (None when ``val_fraction`` leaves under 2).

        With ``groups`` ((n,) ints 0..G−1: the captions of one image), whole groups go to
        one side, drawn at random until the validation side holds ``val_fraction`` of the
        rows: a validation caption never has its image among the training pairs.
        """
        n_val = int(round(self.training_options.val_fraction * n))
        rng = np.random.default_rng(self._seed)
        if groups is None:
            order = rng.permutation(n)
            return (order[n_val:], order[:n_val]) if n_val >= 2 else (order, None)
        ids = rng.permutation(int(groups.max()) + 1)
        sizes = np.bincount(groups, minlength=len(ids))[ids]
        taken = int(np.argmin(np.abs(np.cumsum(sizes) - n_val))) + 1  # nearest to n_val rows
        if n_val < 2 or taken >= len(ids):
            return rng.permutation(n), None
        held = np.isin(groups, ids[:taken])
        return rng.permutation(np.flatnonzero(~held)), rng.permutation(np.flatnonzero(held))

    def _train(
        self,
        trainable: nn.Module,
        arrays: list[np.ndarray],
        mask: np.ndarray,
        train: np.ndarray,
        val: np.ndarray | None,
    ) -> None:
        """Train ``trainable`` on rows ``train`` (validating on ``val``); sets ``history_``."""
        result = self._trainer().fit(
            trainable,
            [a[train] for a in arrays],
            mask[train],
            None if val is None else [a[val] for a in arrays],
            None if val is None else mask[val],
            callback=getattr(self, "_callback", None),
        )
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch

    def _encode(self, i: int, X: np.ndarray) -> np.ndarray:
        """(m, d_i) rows of view i → (m, out_dim) tower outputs.

        Inference runs in float64 (training in float32), so a row's embedding does not
        depend on which other rows share its batch (float32 kernels differ by ~1e-6 with
        the batch size).
        """
        tower = self.network_.view_encoder(i)
        tower.eval()
        state = {
            k: v.double() if v.is_floating_point() else v
            for k, v in [*tower.named_parameters(), *tower.named_buffers()]
        }
        out = []
        with torch.no_grad():
            for s in range(0, len(X), ENCODE_CHUNK):
                chunk = torch.as_tensor(X[s : s + ENCODE_CHUNK], dtype=torch.float64)
                out.append(torch.func.functional_call(tower, state, (chunk,)).numpy())
        return np.concatenate(out) if out else np.zeros((0, self._out_dim))

    # ------------------------------------------------------------------ persistence
    def _fitted_state(self) -> dict[str, Any]:
        state = super()._fitted_state()
        network = state.pop("network_")
        state["network_state_"] = {
            k: v.detach().cpu().numpy() for k, v in network.state_dict().items()
        }
        return state

    def _after_load(self) -> None:
        weights = self.__dict__.pop("network_state_")
        torch.manual_seed(0)
        network = self._build_network(self.n_features_)
        network.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
        self.network_ = network.eval()


class DeepCorrelationModel(DeepJointModel):
    """Base of the deep correlation family: towers, then a linear CCA/GCCA head on their
    outputs over the whole training set (scikit-learn estimator, JointModel contract).

    Args:
        n_components: k, dimension of the joint space (the linear head's output).
        tower: per-view network: "mlp", "linear", "cnn", a dict ``{"kind": ..., **options}``,
            an ``nn.Module`` mapping (m, d_i) → (m, out_dim), or a list of these (one per view).
        hidden, activation, dropout, batch_norm: the MLP towers' layout.
        out_dim: width of the towers' outputs (None: n_components).
        reg: ridge on the minibatch covariances of the correlation loss.
        head_reg: ridge of the final linear CCA/GCCA on the towers' outputs.
        adversarial: weight of a modality discriminator's loss behind a gradient-reversal
            layer (ACMR), which pushes the views' tower outputs to be indistinguishable;
            0: none. The discriminator is used in training only.
        cycle: weight of a cycle-consistency term (CycleGAN's cycle on the towers' outputs:
            small translators between every two views, trained with them, must map paired
            outputs onto each other and back); 0: none. Training only, like the
            discriminator.
        missing: views that samples lack, at fit and at query time: "drop", "zero",
            "mean" or "model" (see :mod:`jointspace.models.missing_views`); None: "drop" (DGCCA:
            "mask", its views masked in training).
        training: changes to the training options, a dict such as ``{"epochs": 10,
            "progress": False}`` (see :class:`~jointspace.train.options.TrainingOptions`:
            epochs, batch_size, lr, weight_decay, schedule, patience, input_noise,
            val_fraction, device, threads, checkpoint_dir, resume, progress); the others
            keep the defaults below.
        random_state: seed of the weights and of every epoch's shuffling and noise.

    The defaults are the measured best on mnist-halves (``benchmarks/bench_deep.py``):
    sigmoid towers, 40 epochs of AdamW at lr 1e-2 with weight decay 0.3 on a cosine schedule,
    input noise 0.05, every row trained on (a 10% validation split for early stopping cost
    0.4 of the test correlation sum: 43.80 against 44.21 for DCCA, 50 components).

    Fitted attributes: ``network_`` (the trained towers), ``history_`` (per-epoch loss and
    validation score), ``best_epoch_``, ``head_weights_`` / ``head_means_`` (linear head),
    ``canonical_correlations_`` (training set), ``n_components_``.
    """

    training_defaults: ClassVar[TrainingOptions] = TrainingOptions(
        epochs=40, batch_size=500, lr=1e-2, weight_decay=0.3, input_noise=0.05)
    _parameter_constraints: ClassVar[dict] = {
        **DEEP_CONSTRAINTS,
        "n_components": [POSITIVE_INT],
        "out_dim": [POSITIVE_INT, None],
        "reg": [NON_NEGATIVE],
        "head_reg": [NON_NEGATIVE],
        "adversarial": [NON_NEGATIVE],
        "cycle": [NON_NEGATIVE],
    }

    def __init__(
        self,
        n_components: int = 10,
        *,
        tower: Any = "mlp",
        hidden: Sequence[int] = (1024, 1024),
        activation: str = "sigmoid",
        dropout: float = 0.0,
        batch_norm: bool = False,
        out_dim: int | None = None,
        reg: float = 1e-3,
        head_reg: float = 1e-4,
        adversarial: float = 0.0,
        cycle: float = 0.0,
        missing: str | None = None,
        training: dict | None = None,
        random_state: int | None = 0,
    ):
        self.n_components = n_components
        self.tower = tower
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.out_dim = out_dim
        self.reg = reg
        self.head_reg = head_reg
        self.adversarial = adversarial
        self.cycle = cycle
        self.missing = missing
        self.training = training
        self.random_state = random_state

    def _towers(self, dims: list[int]) -> list[nn.Module]:
        specs = self.tower if isinstance(self.tower, list | tuple) else [self.tower] * len(dims)
        if len(specs) != len(dims):
            raise ValueError(f"tower has {len(specs)} entries; expected one per view ({len(dims)})")
        mlp = {
            "hidden": widths(self.hidden),
            "activation": self.activation,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
        }
        return [build_tower(s, d, self._out_dim, **mlp) for s, d in zip(specs, dims)]

    @property
    def _out_dim(self) -> int:
        return int(self.out_dim or self.n_components)

    @abstractmethod
    def _fit_head(self, outputs: list[np.ndarray] | MultiView) -> JointModel:
        """The linear model fitted on the towers' outputs: a list (complete rows), or a
        MultiView whose mask marks the views rows lack (see :meth:`_fit_head_on`)."""

    def _fit_arrays(self, arrays: list[np.ndarray], mask: np.ndarray) -> None:
        if self.out_dim is not None and self.out_dim < self.n_components:
            raise ValueError(
                f"out_dim={self.out_dim} is smaller than n_components={self.n_components}"
            )
        torch.manual_seed(self._seed)
        network = self._build_network([a.shape[1] for a in arrays])
        network.alignment = AlignmentTerms(self._out_dim, len(arrays), self.adversarial,
                                           self.cycle)
        train, val = self._split_rows(len(mask))
        self._train(network, arrays, mask, train, val)
        network.alignment = None  # training only: not part of the saved model
        self.network_ = network.cpu()
        self._fit_head_on(arrays, mask)

    def _fit_head_on(self, arrays: list[np.ndarray], mask: np.ndarray) -> None:
        """Fit the linear head on the towers' outputs of the complete rows; when fewer than
        k + 1 rows have every view (e.g. two views never observed together), on every row,
        the outputs a row lacks filled by ridge regression from those it has."""
        complete = mask.all(axis=1)
        if complete.sum() > self.n_components:
            head = self._fit_head([self._encode(i, a[complete]) for i, a in enumerate(arrays)])
        else:
            outputs = {f"view{i}": np.where(m[:, None], self._encode(i, a), np.nan)
                       for i, (a, m) in enumerate(zip(arrays, mask.T))}
            head = self._fit_head(MultiView(outputs, mask=mask))
        self.head_weights_, self.head_means_ = head.weights_, head.means_
        self.canonical_correlations_ = head.canonical_correlations_
        self.n_components_ = head.n_components_

    def _transform_array(self, i: int, X: np.ndarray) -> np.ndarray:
        return (self._encode(i, X) - self.head_means_[i]) @ self.head_weights_[i]

"""Contrastive dual encoders (CLIP-style two-tower models, and N towers) on the shared trainer.

One encoder per view — a tower ending in a projection into the shared k-dimensional space —
trained with a contrastive loss (InfoNCE, SigLIP or VSE++; over every pair of views, or each
view with one anchor view), optionally with hard negatives
(in-batch top-k, a memory queue, or a MoCo queue fed by a momentum encoder), distillation
from a teacher space, and gradient caching for batches bigger than memory allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from torch import nn

from jointspace.losses import CONTRASTIVE_LOSSES, DISTILL_LOSSES
from jointspace.losses.multiview import view_pairs
from jointspace.models.constraints import FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT
from jointspace.models.deep.base import DEEP_CONSTRAINTS, DeepJointModel
from jointspace.models.deep.contrastive_training import HARD_NEGATIVES, ContrastiveTraining
from jointspace.models.deep.towers import build_tower, takes_features, widths
from jointspace.train.options import TrainingOptions


class DualEncoderNetwork(nn.Module):
    """What a fitted dual encoder keeps: one encoder per view (tower + projection) and the
    contrastive objective (which holds the learned temperature)."""

    def __init__(self, encoders: Sequence[nn.Module], objective: nn.Module):
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.objective = objective

    def view_encoder(self, i: int) -> nn.Module:
        """The network mapping view i's rows to the shared space (before normalization)."""
        return self.encoders[i]


class ContrastiveDualEncoder(DeepJointModel):
    """Towers trained contrastively into one L2-normalized space (CLIP, SigLIP, VSE++).

    Two views make CLIP's dual encoder. With N views each pair of views in the loss adds
    one contrastive term on the rows that have both (:mod:`jointspace.losses.multiview`):
    every pair (``anchor=None``), or each view with the ``anchor`` view only (ImageBind's
    binding to images). A sample may lack views (``missing="mask"``, the default): a view
    it lacks is left out of its terms, so audio trained only with text, and images only
    with text, are still searched against each other through the shared text space.

    Each view gets an encoder: a tower that ends in a linear projection to ``n_components``
    — "mlp" (hidden layers, then the projection), "linear" (the projection alone: frozen
    features such as MiniLM sentence vectors with a trained head), "cnn" (the small CNN on
    flat image rows), "minilm" (all-MiniLM-L6-v2 itself on the token rows of the
    ``minilm-tokens`` encoder, its top layers fine-tuned: LiT's tuned text tower, e.g.
    ``{"kind": "minilm", "train_layers": 2, "lr_scale": 0.1}``), a dict
    ``{"kind": ..., **options}``, or the user's ``nn.Module``
    (followed by a trained projection; name its view in ``freeze`` to keep its weights).
    ``transform`` returns the normalized embeddings, so dot products are cosines.

    Args:
        n_components: k, width of the shared space.
        tower, hidden, activation, dropout, batch_norm: the encoders (one spec or one per view).
        freeze: views (names or indices; or one string of names separated by "/") whose
            user-module towers are not trained.
        loss: "infonce" (CLIP, learnable temperature clamped at 1/100), "siglip" (learnable
            scale and bias) or "vse" (VSE++ hinge); one objective (one temperature) for
            every pair of views.
        anchor: None: contrast every pair of views; a view name: contrast each other view
            with this one only (with two views the same).
        temperature: initial InfoNCE temperature.
        margin, vse_reduction: VSE++ margin and "max" (max-violation) or "sum".
        hard_negatives: None; "topk" (each anchor keeps its ``n_hard`` hardest in-batch
            negatives); "queue" (a memory of ``queue_size`` past embeddings per view as
            extra negatives); "moco" (the queue filled by a momentum encoder updated with
            ``momentum``). A true pair is never a negative.
        distill: None; "cosine" or "mse" (each embedding, through a learned linear map
            when widths differ, towards the teacher vector of its pair); "kl" (the batch's
            image–text similarity distribution towards the teacher's text–text one).
        distill_weight, distill_temperature: weight of the distillation term; τ for "kl".
        distill_teacher: name of the view whose input features are the teacher space (e.g.
            "text" with MiniLM features), or pass ``teacher=`` to :meth:`fit`.
        grad_cache_chunk: embed batches this many rows at a time (GradCache): a batch of
            4,096 trains in the memory of this many rows with the same gradients.
        adversarial: weight of a modality discriminator's loss behind a gradient-reversal
            layer (ACMR): the two views' embeddings are pushed to be indistinguishable; 0:
            none. The discriminator is used in training only.
        cycle: weight of a cycle-consistency term: translators between the two views'
            embeddings, trained with the towers, map paired embeddings onto each other and
            back (CycleGAN's cycle); 0: none. Training only.
        standardize: scale each input feature to zero mean and unit variance (statistics
            of the training rows, kept with the model); never applied to a view whose tower
            reads codes rather than features (``feature_input = False``: token ids).
        missing: views that samples lack, at fit and at query time: "mask" (each pair
            term on the rows with both views), "drop", "zero", "mean" or "model" (see
            :mod:`jointspace.models.missing_views`); None: "mask".
        training: changes to the training options, a dict (see
            :class:`~jointspace.train.options.TrainingOptions`); defaults: 30 epochs of
            AdamW at lr 1e-3, weight decay 0.1, batch 512, no early stopping); the validation
            score is the mean of R@1/5/10 in both directions.
        random_state: seed of the weights and of every epoch's shuffling and noise.

    Fitted attributes: ``network_``, ``history_``, ``best_epoch_``, ``n_components_``,
    ``temperature_`` (the learned 1/scale).
    """

    fits_missing_views: ClassVar[bool] = True
    training_defaults: ClassVar[TrainingOptions] = TrainingOptions(
        epochs=30, batch_size=512, lr=1e-3, weight_decay=0.1, patience=None)
    _parameter_constraints: ClassVar[dict] = {
        **DEEP_CONSTRAINTS,
        "n_components": [POSITIVE_INT],
        "freeze": [str, list, tuple],
        "loss": [StrOptions(set(CONTRASTIVE_LOSSES))],
        "anchor": [str, None],
        "temperature": [POSITIVE],
        "margin": [NON_NEGATIVE],
        "vse_reduction": [StrOptions({"max", "sum"})],
        "hard_negatives": [StrOptions(set(HARD_NEGATIVES)), None],
        "n_hard": [POSITIVE_INT],
        "queue_size": [POSITIVE_INT],
        "momentum": [FRACTION],
        "distill": [StrOptions(set(DISTILL_LOSSES)), None],
        "distill_weight": [NON_NEGATIVE],
        "distill_temperature": [POSITIVE],
        "distill_teacher": [str, None],
        "grad_cache_chunk": [POSITIVE_INT, None],
        "standardize": ["boolean"],
        "adversarial": [NON_NEGATIVE],
        "cycle": [NON_NEGATIVE],
    }

    def __init__(
        self,
        n_components: int = 256,
        *,
        tower: Any = "mlp",
        hidden: Sequence[int] = (1024,),
        activation: str = "gelu",
        dropout: float = 0.1,
        batch_norm: bool = False,
        freeze: Sequence[str | int] = (),
        loss: str = "infonce",
        anchor: str | None = None,
        temperature: float = 0.07,
        margin: float = 0.2,
        vse_reduction: str = "max",
        hard_negatives: str | None = None,
        n_hard: int = 16,
        queue_size: int = 4096,
        momentum: float = 0.995,
        distill: str | None = None,
        distill_weight: float = 1.0,
        distill_temperature: float = 0.05,
        distill_teacher: str | None = None,
        grad_cache_chunk: int | None = None,
        standardize: bool = True,
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
        self.freeze = freeze
        self.loss = loss
        self.anchor = anchor
        self.temperature = temperature
        self.margin = margin
        self.vse_reduction = vse_reduction
        self.hard_negatives = hard_negatives
        self.n_hard = n_hard
        self.queue_size = queue_size
        self.momentum = momentum
        self.distill = distill
        self.distill_weight = distill_weight
        self.distill_temperature = distill_temperature
        self.distill_teacher = distill_teacher
        self.grad_cache_chunk = grad_cache_chunk
        self.standardize = standardize
        self.adversarial = adversarial
        self.cycle = cycle
        self.missing = missing
        self.training = training
        self.random_state = random_state

    # ------------------------------------------------------------------ building
    @property
    def _out_dim(self) -> int:
        return int(self.n_components)

    def _check_n_components(self, dims: list[int], names: list[str], n_rows: int) -> int:
        """Any positive width: each tower projects into the shared space whatever its
        input's width (a few features, token rows), and no covariance needs k < n rows."""
        k = self.n_components
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"n_components={k!r}; expected a positive integer")
        return int(k)

    def _check_params(self) -> None:
        checks = [
            ("loss", self.loss, tuple(CONTRASTIVE_LOSSES)),
            ("hard_negatives", self.hard_negatives, (None, *HARD_NEGATIVES)),
            ("distill", self.distill, (None, *DISTILL_LOSSES)),
        ]
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{name}={value!r}; expected one of {allowed}")
        if self.grad_cache_chunk is not None and self.grad_cache_chunk < 1:
            raise ValueError(f"grad_cache_chunk={self.grad_cache_chunk}; expected ≥ 1 or None")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum={self.momentum}; expected in [0, 1)")

    def _names(self) -> list[str]:
        """View names: those being fitted, else the fitted ones."""
        context = getattr(self, "_context", None)
        return list(context["names"] if context else getattr(self, "view_names_", []))

    def _frozen_views(self) -> list[int]:
        names = self._names()
        out = []
        # a string is view names separated by "/" (as a spec gives them), not letters
        for v in self.freeze.split("/") if isinstance(self.freeze, str) else self.freeze:
            if isinstance(v, str):
                if v not in names:
                    raise ValueError(f"freeze names view {v!r}; the views are {names}")
                v = names.index(v)
            out.append(int(v))
        return out

    def _contrasted_pairs(self, n_views: int) -> list[tuple[int, int]]:
        """The (i, j) pairs of the loss over ``n_views`` views: all, or each with ``anchor``."""
        if self.anchor is None:
            return view_pairs(n_views)
        names = self._names()
        if self.anchor not in names:
            raise ValueError(f"anchor={self.anchor!r} is not a view; the views are {names}")
        return view_pairs(n_views, names.index(self.anchor))

    def _objective(self) -> nn.Module:
        if self.loss == "infonce":
            return CONTRASTIVE_LOSSES["infonce"](init_temperature=self.temperature)
        if self.loss == "vse":
            return CONTRASTIVE_LOSSES["vse"](margin=self.margin, reduction=self.vse_reduction)
        return CONTRASTIVE_LOSSES["siglip"]()

    def _build_network(self, dims: list[int]) -> DualEncoderNetwork:
        specs = self.tower if isinstance(self.tower, list | tuple) else [self.tower] * len(dims)
        if len(specs) != len(dims):
            raise ValueError(f"tower has {len(specs)} entries; expected one per view ({len(dims)})")
        frozen = self._frozen_views()
        encoders = []
        for i, (spec, d) in enumerate(zip(specs, dims)):
            if isinstance(spec, nn.Module):
                encoders.append(self._projected(spec, d, frozen=i in frozen))
                continue
            if i in frozen:
                raise ValueError(f"freeze names view {i}, whose tower is not the user's module")
            mlp = {
                "hidden": widths(self.hidden),
                "activation": self.activation,
                "dropout": self.dropout,
                "batch_norm": self.batch_norm,
            }
            encoders.append(build_tower(spec, d, self.n_components, **mlp))
        return DualEncoderNetwork(encoders, self._objective())

    def _projected(self, module: nn.Module, in_dim: int, frozen: bool) -> nn.Module:
        """The user's tower followed by a trained projection to the shared space."""
        was_training = module.training
        module.eval()
        with torch.no_grad():
            width = module(torch.zeros(2, in_dim)).shape[1]
        module.train(was_training)
        if frozen:
            module.requires_grad_(False)
        encoder = nn.Sequential(module, nn.Linear(width, self.n_components))
        encoder.feature_input = takes_features(module)
        return encoder

    # ------------------------------------------------------------------ fitting
    def fit(
        self, views: Any, y: Any = None, *, teacher: Any = None, callback: Any = None
    ) -> ContrastiveDualEncoder:
        """Train on paired views (see :meth:`JointModel.fit`).

        Args:
            views: MultiView, dict or list of (n, d_i) arrays (two or more views); with a
                MultiView its ``groups`` mark rows that are true pairs of each other, and
                its mask the views each row lacks.
            y: ignored.
            teacher: (n, d_t) teacher embeddings for ``distill`` (or set ``distill_teacher``),
                e.g. computed by an encoder:
                ``teacher=make_encoder("minilm").fit_transform(captions)``.
            callback: optional ``callback(epoch, network, history_row)`` after every epoch.
        Returns:
            self.
        """
        mv, _ = self._validate_views(views, fitting=True)
        groups = mv.groups
        if self.missing_strategy == "drop" and not mv.complete_rows().all():
            kept = mv.complete_rows()  # the rows _arrays_to_fit keeps
            groups = None if groups is None else np.asarray(groups)[kept]
            teacher = None if teacher is None else np.asarray(teacher)[kept]
        self._context = {"names": mv.view_names, "groups": groups, "teacher": teacher}
        try:
            return super().fit(mv, y, callback=callback)
        finally:
            del self._context

    def _teacher_array(self, arrays: list[np.ndarray]) -> np.ndarray | None:
        if self.distill is None:
            return None
        given = self._context["teacher"]
        if given is not None and self.distill_teacher is not None:
            raise ValueError("give the teacher either as teacher= or as distill_teacher, not both")
        if self.distill_teacher is not None:
            names = self._names()
            if self.distill_teacher not in names:
                raise ValueError(f"distill_teacher={self.distill_teacher!r}; views are {names}")
            return arrays[names.index(self.distill_teacher)]
        if given is None:
            raise ValueError(f"distill={self.distill!r} needs teacher= or distill_teacher")
        teacher = np.asarray(given, dtype=np.float64)
        if teacher.ndim != 2 or len(teacher) != len(arrays[0]):
            raise ValueError(
                f"teacher has shape {teacher.shape}; expected ({len(arrays[0])}, d_teacher)"
            )
        if not np.isfinite(teacher).all():
            raise ValueError("teacher holds NaN or infinite values")
        return teacher

    def _fit_arrays(self, arrays: list[np.ndarray], mask: np.ndarray) -> None:
        self._check_params()
        n = len(mask)
        given = self._context["groups"]
        groups = np.arange(n) if given is None else np.asarray(given)
        _, groups = np.unique(groups, return_inverse=True)
        teacher = self._teacher_array(arrays)
        if self.distill_teacher is not None and not mask[:, self._names().index(
                self.distill_teacher)].all():
            raise ValueError(f"distill_teacher={self.distill_teacher!r}: some rows lack that "
                             "view; the teacher must be there for every row")
        torch.manual_seed(self._seed)
        network = self._build_network([a.shape[1] for a in arrays])
        self.input_means_, self.input_scales_ = [], []
        for a, has, scaled in zip(arrays, mask.T, self._standardized_views(network)):
            a = a[has]  # the rows that have the view
            self.input_means_.append(a.mean(axis=0) if scaled else np.zeros(0))
            sd = a.std(axis=0) if scaled else np.zeros(0)
            self.input_scales_.append(np.where(sd > 1e-12, sd, 1.0))
        arrays = [self._standardized(i, a, network) for i, a in enumerate(arrays)]
        train, val = self._split_rows(n, None if given is None else groups)
        training = ContrastiveTraining(
            network, self, groups[train], None if teacher is None else teacher[train]
        )
        if val is not None:
            training.val_groups = groups[val]
        self._train(training, arrays, mask, train, val)
        self.network_ = network.cpu().eval()
        self.n_components_ = self.n_components
        scale = getattr(network.objective, "scale", None)
        self.temperature_ = None if scale is None else float(1.0 / scale.detach())

    def _standardized_views(self, network: DualEncoderNetwork) -> list[bool]:
        """Which views are standardized: all with ``standardize``, except those whose
        tower does not take features (token ids: ``feature_input = False``, see
        :func:`~jointspace.models.deep.towers.takes_features`)."""
        return [bool(self.standardize) and takes_features(e) for e in network.encoders]

    def _standardized(
        self, i: int, X: np.ndarray, network: DualEncoderNetwork | None = None
    ) -> np.ndarray:
        """View i's rows, standardized if :meth:`_standardized_views` says so."""
        if not self._standardized_views(self.network_ if network is None else network)[i]:
            return X
        return (X - self.input_means_[i]) / self.input_scales_[i]

    def _transform_array(self, i: int, X: np.ndarray) -> np.ndarray:
        Z = self._encode(i, self._standardized(i, X))
        return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)

"""The training options every deep model shares, as one object.

A deep model takes ``training={"epochs": 10, "lr": 1e-3}`` (a dict of the options to
change) and keeps its own measured defaults for the rest. The model's class declares those
defaults as a :class:`TrainingOptions`; :class:`TrainedModel` merges the user's dict over
them, checks every key and value, and builds the :class:`~jointspace.train.Trainer`.

    >>> DCCA(50, training={"epochs": 10, "progress": False}).fit(train)
    >>> model.set_params(training={"lr": 3e-3})        # grid searches use whole dicts
    >>> DCCA().training_options.lr                       # the resolved value: 0.01
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, ClassVar

from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

if TYPE_CHECKING:
    from jointspace.train.trainer import Trainer

#: the learning-rate schedules of the Trainer
SCHEDULES = ("constant", "cosine", "step")

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_NON_NEGATIVE = Interval(Real, 0, None, closed="left")

#: scikit-learn constraints of every training option
OPTION_CONSTRAINTS: dict[str, list[Any]] = {
    "epochs": [_POSITIVE_INT],
    "batch_size": [Interval(Integral, 2, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [_NON_NEGATIVE],
    "schedule": [StrOptions(set(SCHEDULES))],
    "patience": [_POSITIVE_INT, None],
    "input_noise": [_NON_NEGATIVE],
    "val_fraction": [Interval(Real, 0, 1, closed="left")],
    "device": [str],
    "threads": [_POSITIVE_INT, None],
    "checkpoint_dir": [str, os.PathLike, None],
    "resume": ["boolean"],
    "progress": ["boolean"],
}


@dataclass(frozen=True)
class TrainingOptions:
    """How a deep model trains (see :class:`~jointspace.train.Trainer` for each option).

    Attributes:
        epochs, batch_size, lr, weight_decay, schedule, patience: the Trainer's AdamW loop
            (``patience``: epochs without a better validation score before stopping; None:
            never).
        input_noise: standard deviation of Gaussian noise added to inputs in training.
        val_fraction: share of the training rows held out for early stopping (0: none).
        device: "cpu", "cuda" or "auto"; threads: torch CPU threads while training.
        checkpoint_dir, resume: write a checkpoint after every epoch; continue from it.
        progress: show a progress bar.
    """

    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    patience: int | None = 10
    input_noise: float = 0.0
    val_fraction: float = 0.0
    device: str = "cpu"
    threads: int | None = None
    checkpoint_dir: str | os.PathLike | None = None
    resume: bool = False
    progress: bool = True

    def updated(self, changes: Mapping[str, Any] | None, owner: str) -> TrainingOptions:
        """These options with ``changes`` applied, every value checked.

        Args:
            changes: option name → value (None or {}: no change).
            owner: who the options belong to, for error messages ("DCCA").
        Raises:
            ValueError: an unknown option (lists the known ones);
                ``InvalidParameterError`` (a ValueError): a value out of range.
        """
        changes = dict(changes or {})
        unknown = sorted(set(changes) - set(OPTION_NAMES))
        if unknown:
            raise ValueError(f"{owner}: training has no option {unknown[0]!r}; the options "
                             f"are {', '.join(OPTION_NAMES)}")
        options = dataclasses.replace(self, **changes)
        validate_parameter_constraints(OPTION_CONSTRAINTS, dataclasses.asdict(options),
                                       caller_name=f"{owner} training")
        return options

    def trainer(self, random_state: int | None) -> Trainer:
        """The Trainer that runs these options (``input_noise`` and ``val_fraction`` are the
        model's to apply)."""
        from jointspace.train.trainer import Trainer  # torch: imported on use

        return Trainer(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                       weight_decay=self.weight_decay, schedule=self.schedule,
                       patience=self.patience, device=self.device, threads=self.threads,
                       random_state=random_state, checkpoint_dir=self.checkpoint_dir,
                       resume=self.resume, progress=self.progress)


#: the option names, in the order of the docs
OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainingOptions))


class TrainedModel:
    """Mixin for an estimator with a ``training`` parameter (a dict of option changes, or
    None) and a ``random_state``: ``training_options`` resolves them over the class's
    ``training_defaults``."""

    #: the measured defaults of the class (each model sets its own)
    training_defaults: ClassVar[TrainingOptions] = TrainingOptions()

    @property
    def training_options(self) -> TrainingOptions:
        """The class's defaults with this model's ``training`` changes (checked)."""
        if self.training is not None and not isinstance(self.training, Mapping):
            raise TypeError(f"{type(self).__name__}: training={self.training!r}; expected a "
                            f"dict of options ({', '.join(OPTION_NAMES)}) or None")
        return self.training_defaults.updated(self.training, type(self).__name__)

    def _validate_params(self) -> None:
        """scikit-learn's parameter check, then every training option's."""
        super()._validate_params()
        self.training_options  # noqa: B018 - resolving checks every key and value

    def _trainer(self) -> Trainer:
        return self.training_options.trainer(self.random_state)

    @classmethod
    def _nest_training_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Constructor parameters with flat training options (a save from before the options
        object, a CLI flag) moved into ``training``."""
        flat = {k: params[k] for k in OPTION_NAMES if k in params}
        if not flat:
            return params
        rest = {k: v for k, v in params.items() if k not in flat}
        return {**rest, "training": {**(rest.get("training") or {}), **flat}}

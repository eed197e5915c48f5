"""One trainer for every deep model: minibatches, validation, early stopping, schedule,
checkpoints and resume, seeding, progress, device and threads.

The trainer knows nothing of the model's objective. It trains any ``nn.Module`` that
provides

    training_loss(views, mask) -> dict[str, Tensor]   # "loss" is minimized; others are shown
    validation_score(views, mask) -> float            # higher is better

where ``views`` is a list of (m, d_i) float tensors and ``mask`` an (m, n_views) bool tensor
of observed views. Three optional hooks:

    uses_batch_index = True          # training_loss(views, mask, index=rows) gets the batch's
                                     # row numbers in the training arrays (m,) long
    backward_loss(views, mask, ...)  # computes the loss and its gradients itself (e.g. in
                                     # chunks, GradCache); used instead of training_loss
    after_step()                     # called after every optimizer step (momentum encoders,
                                     # queues)
    row_parameters()                 # under several processes: the parameters whose
                                     # gradients are summed (see train/distributed.py)

Under ``torchrun`` (after :func:`jointspace.train.distributed.init_from_env`) every process
takes its share of each global batch, gradients are synchronized before each step, and
rank 0 alone writes checkpoints.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from jointspace.train import distributed
from jointspace.train.checkpoint import load_checkpoint, save_checkpoint
from jointspace.train.options import SCHEDULES


class Trainable(Protocol):
    """What the trainer needs from a model (an ``nn.Module``)."""

    def training_loss(self, views: list[torch.Tensor], mask: torch.Tensor) -> dict[str, Any]: ...

    def validation_score(self, views: list[torch.Tensor], mask: torch.Tensor) -> float: ...


@dataclass
class TrainResult:
    """What training did: per-epoch ``history`` rows and the epoch whose weights were kept."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    stopped_early: bool = False


def resolve_device(device: str) -> torch.device:
    """ "auto" → CUDA when present, else CPU; otherwise the named device."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda" and resolved.index is None and distributed.active():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))  # a GPU a process
    return resolved


def parameter_groups(model: nn.Module) -> list[dict[str, Any]]:
    """The model's parameters as optimizer groups by learning-rate scale.

    A submodule with an ``lr_scale`` attribute trains its parameters at ``lr × lr_scale``
    (the innermost such module wins), e.g. a pretrained transformer fine-tuned more gently
    than a new head. The first group holds the parameters at the full rate; each group
    carries its ``"lr_scale"``.
    """
    scales: dict[int, float] = {}
    for module in model.modules():  # parents before their children
        scale = getattr(module, "lr_scale", None)
        if scale is not None:
            scales.update((id(p), float(scale)) for p in module.parameters())
    groups: dict[float, list[nn.Parameter]] = {1.0: []}
    for p in model.parameters():
        groups.setdefault(scales.get(id(p), 1.0), []).append(p)
    return [{"params": ps, "lr_scale": s} for s, ps in groups.items() if ps]


def _lr_factor(schedule: str, epoch: int, epochs: int, warmup: int) -> float:
    if epoch < warmup:
        return (epoch + 1) / (warmup + 1)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / max(1, epochs - warmup)))
    if schedule == "step":
        return 0.1 ** ((epoch - warmup) // max(1, (epochs - warmup) // 3))
    return 1.0


@dataclass
class Trainer:
    """Minibatch training with AdamW.

    Args:
        epochs: maximum number of passes over the training rows.
        batch_size: rows per step; a last batch smaller than half of it is merged into the
            previous one (a covariance-based loss needs more than a handful of rows).
        lr, weight_decay: AdamW settings; a submodule with an ``lr_scale`` attribute trains
            at ``lr × lr_scale`` (see :func:`parameter_groups`).
        schedule: learning-rate schedule per epoch: "constant", "cosine" or "step"
            (×0.1 at each third); ``warmup`` epochs ramp up linearly first.
        patience: stop when the validation score has not improved for this many epochs
            (None: never); the best epoch's weights are restored at the end.
        grad_clip: clip the gradient norm to this (None: no clipping).
        device: "cpu", "cuda", "auto", …
        threads: torch CPU threads during training (None: leave as is).
        random_state: seed; the same seed gives the same weights. Each epoch's shuffling
            and noise are seeded by (random_state, epoch), so a resumed run continues
            exactly as an uninterrupted one.
        checkpoint_dir: directory to write a checkpoint to after every epoch (None: none;
            nothing is written anywhere else).
        resume: continue from the checkpoint in ``checkpoint_dir`` if there is one.
        progress: show a progress bar with the loss and the validation score.
    """

    epochs: int = 50
    batch_size: int = 500
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup: int = 0
    patience: int | None = 10
    grad_clip: float | None = None
    device: str = "cpu"
    threads: int | None = None
    random_state: int | None = 0
    checkpoint_dir: str | Path | None = None
    resume: bool = False
    progress: bool = True

    def check(self) -> None:
        """Validate the options (a clear ValueError naming the option)."""
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r}; expected one of {SCHEDULES}")
        for name, low in (("epochs", 1), ("batch_size", 2), ("warmup", 0)):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}={value!r}; expected an integer ≥ {low}")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0 \
                    or (name == "lr" and value == 0):
                raise ValueError(f"{name}={value!r}; expected a finite number "
                                 f"{'> 0' if name == 'lr' else '≥ 0'}")
        if self.patience is not None and (not isinstance(self.patience, int) or
                                          self.patience < 1):
            raise ValueError(f"patience={self.patience!r}; expected an integer ≥ 1 or None")

    def fit(
        self,
        model: nn.Module,
        train_views: Sequence[np.ndarray],
        train_mask: np.ndarray,
        val_views: Sequence[np.ndarray] | None = None,
        val_mask: np.ndarray | None = None,
        callback: Callable[[int, nn.Module, dict[str, float]], None] | None = None,
    ) -> TrainResult:
        """Train ``model`` (a :class:`Trainable` module) in place; returns the TrainResult.

        Args:
            train_views: one (n, d_i) array per view (unobserved rows hold anything finite).
            train_mask: (n, n_views) bool, observed views.
            val_views, val_mask: the validation rows, same form (None: no validation; the
                last epoch is kept).
            callback: called after every epoch as ``callback(epoch, model, history_row)``
                (e.g. to log or evaluate; the model is in eval mode during the call).
        """
        self.check()
        device = resolve_device(self.device)
        previous_threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            return self._fit(
                model.to(device), device, train_views, train_mask, val_views, val_mask, callback
            )
        finally:
            torch.set_num_threads(previous_threads)

    def _fit(
        self, model, device, train_views, train_mask, val_views, val_mask, callback
    ) -> TrainResult:
        seed = 0 if self.random_state is None else int(self.random_state)
        X = [
            torch.as_tensor(np.asarray(v), dtype=torch.float32, device=device) for v in train_views
        ]
        M = torch.as_tensor(np.asarray(train_mask), dtype=torch.bool, device=device)
        V = VM = None
        if val_views is not None:
            V = [
                torch.as_tensor(np.asarray(v), dtype=torch.float32, device=device)
                for v in val_views
            ]
            VM = torch.as_tensor(np.asarray(val_mask), dtype=torch.bool, device=device)
        optimizer = torch.optim.AdamW(
            parameter_groups(model), lr=self.lr, weight_decay=self.weight_decay
        )
        result, best_state, start = TrainResult(), None, 0
        ckpt = Path(self.checkpoint_dir) if self.checkpoint_dir is not None else None
        if ckpt is not None and self.resume and (ckpt / "trainer.json").is_file():
            start, result, best_state = load_checkpoint(ckpt, model, optimizer)
            if result.stopped_early:  # that run ended: resuming trains no further
                start = self.epochs
        n = len(M)
        backward_loss = getattr(model, "backward_loss", None)
        after_step = getattr(model, "after_step", None)
        with _progress_bar(self.progress, self.epochs, start) as bar:
            for epoch in range(start, self.epochs):
                for group in optimizer.param_groups:
                    group["lr"] = (
                        self.lr
                        * group.get("lr_scale", 1.0)
                        * _lr_factor(self.schedule, epoch, self.epochs, self.warmup)
                    )
                torch.manual_seed(seed * 1_000_003 + epoch)
                order = torch.randperm(n, device=device)
                model.train()
                totals: dict[str, float] = {}
                starts = list(range(0, n, self.batch_size))
                if len(starts) > 1 and n - starts[-1] < max(2, self.batch_size // 2):
                    starts.pop()
                for i, s in enumerate(starts):
                    rows = order[s : starts[i + 1] if i + 1 < len(starts) else n]
                    idx = distributed.shard(rows)  # this process's share of the batch
                    batch = [x[idx] for x in X]
                    extra = {"index": idx} if getattr(model, "uses_batch_index", False) else {}
                    optimizer.zero_grad(set_to_none=True)
                    if backward_loss is not None:
                        terms = backward_loss(batch, M[idx], **extra)
                    else:
                        terms = model.training_loss(batch, M[idx], **extra)
                        terms["loss"].backward()
                    distributed.sync_gradients(model)
                    if self.grad_clip:
                        nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                    optimizer.step()
                    if after_step is not None:
                        after_step()
                    for k, v in terms.items():
                        totals[k] = totals.get(k, 0.0) + float(v.detach()) * len(rows) / n
                row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **totals}
                if V is not None:
                    model.eval()
                    with torch.no_grad():
                        row["val_score"] = float(model.validation_score(V, VM))
                    score = row["val_score"]
                else:
                    score = -totals["loss"]
                result.history.append(row)
                if V is None:
                    result.best_score, result.best_epoch = score, epoch
                elif score > result.best_score or not math.isfinite(result.best_score):
                    result.best_score, result.best_epoch = score, epoch
                    best_state = copy.deepcopy(model.state_dict())
                result.stopped_early = (
                    V is not None
                    and self.patience is not None
                    and epoch - result.best_epoch >= self.patience
                )
                if ckpt is not None and distributed.rank() == 0:  # after the decision to stop
                    save_checkpoint(ckpt, model, optimizer, epoch, result, best_state)
                bar.update(row)
                if callback is not None:
                    model.eval()
                    callback(epoch, model, row)
                if result.stopped_early:
                    break
        if best_state is not None and V is not None:
            model.load_state_dict(best_state)
        model.eval()
        return result


class _progress_bar:  # noqa: N801 - used as a context manager
    """A rich progress bar over epochs showing the loss and validation score (or nothing)."""

    def __init__(self, enabled: bool, epochs: int, start: int):
        self.enabled, self.epochs, self.start = enabled, epochs, start

    def __enter__(self) -> _progress_bar:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("[bold]training"),
                BarColumn(),
                TextColumn("epoch {task.completed}/{task.total}"),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=self.epochs, completed=self.start, info="")
        return self

    def update(self, row: dict[str, float]) -> None:
        if self.enabled:
            info = f"loss {row['loss']:.4g}"
            if "val_score" in row:
                info += f"  val {row['val_score']:.4g}"
            self.bar.update(self.task, advance=1, info=info)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()

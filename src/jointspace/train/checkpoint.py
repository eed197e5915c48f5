"""Training checkpoints: model, best and optimizer state (safetensors) + progress (JSON).

A checkpoint directory is replaced atomically after every epoch, so an interrupted run
leaves the last complete checkpoint. Nothing is pickled: the optimizer state is flattened
into named tensors plus JSON scalars.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from jointspace.persistence import atomic_directory


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, entries in state["state"].items():
        for name, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(
    directory: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    result: Any,
    best_state: dict[str, torch.Tensor] | None,
) -> None:
    """Write the state after ``epoch`` to ``directory`` (replacing the previous checkpoint)."""
    tensors, opt_meta = _optimizer_tensors(optimizer)
    with atomic_directory(directory) as tmp:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
            tmp / "model.safetensors",
        )
        if best_state is not None:
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in best_state.items()},
                tmp / "best.safetensors",
            )
        save_file(tensors, tmp / "optimizer.safetensors")
        (tmp / "trainer.json").write_text(
            json.dumps({"epoch": epoch, "result": asdict(result), "optimizer": opt_meta}, indent=1)
        )


def load_checkpoint(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer):
    """Restore model and optimizer from ``directory``.

    Returns:
        (next epoch, TrainResult so far, best state dict or None).
    """
    from jointspace.train.trainer import TrainResult

    meta = json.loads((directory / "trainer.json").read_text())
    model.load_state_dict(load_file(directory / "model.safetensors"))
    tensors = load_file(directory / "optimizer.safetensors")
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    for key, value in meta["optimizer"]["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
    best_file = directory / "best.safetensors"
    best = load_file(best_file) if best_file.is_file() else None
    return meta["epoch"] + 1, TrainResult(**meta["result"]), best

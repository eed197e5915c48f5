"""Training on several processes (``torchrun --nproc_per_node N``; gloo on CPU, NCCL on
GPU): each process takes its share of every global batch, a contrastive loss sees the
embeddings of the whole global batch (gathered, with gradients for the process's own
rows, as open_clip gathers them), and the gradients are summed across processes before
every step, so N processes take the steps one process would take on the global batches.

A process joins the group with :func:`init_from_env` (what ``torchrun`` sets up); the
:class:`~jointspace.train.Trainer` notices the group and shards, synchronizes and lets
rank 0 alone write checkpoints (which any number of processes can resume).
"""

from __future__ import annotations

import os

import torch
from torch import distributed as dist


def active() -> bool:
    """Whether this process is one of several in an initialized process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a group)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """The number of processes (1 without a group)."""
    return dist.get_world_size() if active() else 1


def init_from_env(backend: str | None = None) -> bool:
    """Join the process group ``torchrun`` describes in the environment (RANK, WORLD_SIZE,
    MASTER_ADDR, …): gloo on CPU, NCCL when CUDA is there. Returns whether this process is
    now one of several; without those variables it does nothing (one process)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return False
    if not dist.is_initialized():
        default = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend or default)
    return active()


def shard(index: torch.Tensor) -> torch.Tensor:
    """This process's share of a global batch's rows: every world_size-th row from its
    rank (all rows with one process)."""
    return index[rank() :: world_size()] if active() else index


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """The rows of ``x`` from every process, concatenated in rank order; this process's own
    rows keep their gradient (the others' are constants here: their gradients reach their
    parameters on their own processes). Rows may differ in count across processes."""
    if not active():
        return x
    if x.dtype == torch.bool:  # gloo gathers no bools
        return gather_rows(x.to(torch.uint8)).bool()
    size = torch.tensor([len(x)], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(world_size())]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    padded = x.new_zeros((longest, *x.shape[1:]))
    padded[: len(x)] = x.detach()
    parts = [torch.zeros_like(padded) for _ in range(world_size())]
    dist.all_gather(parts, padded)
    parts = [p[: int(s.item())] for p, s in zip(parts, sizes)]
    parts[rank()] = x
    return torch.cat(parts)


def sync_gradients(model: torch.nn.Module) -> None:
    """Make every process's gradients the global batch's.

    The parameters of ``model.row_parameters()`` (the towers, whose gradient on each
    process flows through its own rows of a gathered loss) are summed across processes;
    every other parameter's gradient (a temperature, a loss head: each process computed the
    whole loss, and with it their whole gradient; or, for a model without the hook, a loss
    of the process's rows alone) is averaged. A parameter without a gradient on some
    process counts zero there; one without a gradient anywhere keeps none.
    """
    if not active():
        return
    params = [p for p in model.parameters() if p.requires_grad]
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.int32)
    dist.all_reduce(has, op=dist.ReduceOp.MAX)
    hook = getattr(model, "row_parameters", None)
    summed = {id(p) for p in hook()} if hook is not None else set()
    for p, any_grad in zip(params, has.tolist()):
        if not any_grad:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        if id(p) not in summed:
            p.grad /= world_size()

"""Gradient caching (GradCache, Gao et al. 2021): the gradients of a contrastive loss over a
big batch, in the memory of a small one.

A contrastive loss couples every row of the batch, so it cannot be split into independent
chunks. Its gradient can: (1) embed the batch chunk by chunk without building graphs,
(2) compute the loss on the full embedding matrices and backpropagate to the embeddings
only (small: m × k), (3) embed each chunk again with a graph and backpropagate the cached
embedding gradients through it. The parameter gradients equal the full batch's (the random
state of each chunk's first pass is replayed, so dropout and noise agree); only the chunk's
activations are ever held.

BatchNorm layers see chunk statistics, not the batch's, so with BatchNorm towers the
gradients are those of chunk-wise normalization.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


def grad_cache_backward(
    encode: Callable[[list[torch.Tensor]], list[torch.Tensor]],
    views: Sequence[torch.Tensor],
    loss_fn: Callable[[list[torch.Tensor]], dict[str, Any]],
    chunk_size: int,
) -> dict[str, Any]:
    """Accumulate into ``.grad`` the gradients of ``loss_fn(encode(views))["loss"]``.

    Args:
        encode: views of some rows (list of (c, d_i) tensors) → their embeddings (list of
            (c, k_j) tensors); the trainable part.
        views: the full batch, one (m, d_i) tensor per view.
        loss_fn: the embeddings of the whole batch (list of (m, k_j)) → dict with "loss"
            (its own parameters, e.g. a temperature, get their gradients directly).
        chunk_size: rows embedded at once.
    Returns:
        the loss terms (detached).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}; expected at least 1")
    m = len(views[0])
    bounds = [(s, min(s + chunk_size, m)) for s in range(0, m, chunk_size)]
    states, parts = [], []
    with torch.no_grad():
        for s, e in bounds:
            states.append(torch.get_rng_state())
            parts.append(encode([v[s:e] for v in views]))
    after_first_pass = torch.get_rng_state()
    embeddings = [torch.cat(p).requires_grad_() for p in zip(*parts)]
    terms = loss_fn(embeddings)
    terms["loss"].backward()
    cached = [z.grad for z in embeddings]
    for (s, e), state in zip(bounds, states):
        torch.set_rng_state(state)
        chunk = encode([v[s:e] for v in views])
        surrogate = sum((z * g[s:e]).sum() for z, g in zip(chunk, cached))
        surrogate.backward()
    torch.set_rng_state(after_first_pass)
    return {k: v.detach() if torch.is_tensor(v) else v for k, v in terms.items()}

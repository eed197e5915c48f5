"""What training a dual encoder needs beyond the fitted network: input noise, the batch's
group ids, hard negatives (memory queues, momentum encoders), the distillation teacher and
gradient caching."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from jointspace.losses import EmbeddingDistillLoss, Negatives, SimilarityDistillLoss
from jointspace.losses.adversarial import AlignmentTerms
from jointspace.losses.contrastive import normalized
from jointspace.losses.multiview import pairwise_contrastive, rows_with_both
from jointspace.metrics import cross_modal_retrieval
from jointspace.models.deep.towers import takes_features
from jointspace.train import distributed, grad_cache_backward

#: hard-negative strategies, by name
HARD_NEGATIVES = ("topk", "queue", "moco")


class EmbeddingQueue(nn.Module):
    """A FIFO memory of past embeddings with their group ids (MoCo's queue).

    Args:
        size: capacity q.
        dim: embedding width k.
    """

    def __init__(self, size: int, dim: int):
        super().__init__()
        if size < 1:
            raise ValueError(f"queue_size={size}; expected at least 1")
        self.register_buffer("embeddings", torch.zeros(size, dim))
        self.register_buffer("groups", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def push(self, embeddings: torch.Tensor, groups: torch.Tensor) -> None:
        """Add (m, k) embeddings with their (m,) groups, overwriting the oldest."""
        size = len(self.groups)
        embeddings, groups = embeddings[-size:].detach(), groups[-size:]
        rows = (self.count + torch.arange(len(groups), device=groups.device)) % size
        self.embeddings[rows] = embeddings.to(self.embeddings.dtype)
        self.groups[rows] = groups
        self.count += len(groups)

    def negatives(self) -> Negatives | None:
        """The filled part of the queue as extra negatives (None while empty)."""
        filled = int(min(int(self.count), len(self.groups)))
        if filled == 0:
            return None
        return Negatives(self.embeddings[:filled], self.groups[:filled])


class ContrastiveTraining(nn.Module):
    """The dual encoder plus what only training needs: noise, the batch's group ids, hard
    negatives (queues, momentum encoders), the distillation teacher, gradient caching.

    Implements the :class:`~jointspace.train.Trainer` protocol with the batch-index,
    backward_loss and after_step hooks.
    """

    uses_batch_index = True

    def __init__(self, net: nn.Module, model: Any, groups: np.ndarray, teacher: Any):
        """
        Args:
            net: the DualEncoderNetwork being trained (``encoders``, ``objective``).
            model: the ContrastiveDualEncoder whose options apply (its ``view_pairs_``: the
                pairs of views contrasted).
            groups: (n,) int group ids of the training rows (true pairs share one).
            teacher: (n, d_t) teacher embeddings of the training rows, or None.
        """
        super().__init__()
        self.net = net
        self.input_noise = model.training_options.input_noise
        self.hard_negatives = model.hard_negatives
        self.n_hard = model.n_hard
        self.momentum = model.momentum
        self.grad_cache_chunk = model.grad_cache_chunk
        self.frozen = list(model._frozen_views())
        n_views = len(net.encoders)
        self.pairs = model._contrasted_pairs(n_views)
        self.register_buffer("groups", torch.as_tensor(groups, dtype=torch.long))
        self.val_groups: np.ndarray | None = None
        k = model.n_components
        if self.hard_negatives in ("queue", "moco") and distributed.active():
            raise ValueError(f"hard_negatives={self.hard_negatives!r} keeps a queue per "
                             "process; under several processes use None or 'topk'")
        if self.hard_negatives in ("queue", "moco"):
            self.queues = nn.ModuleList(
                [EmbeddingQueue(model.queue_size, k) for _ in range(n_views)])
        if self.hard_negatives == "moco":
            self.momentum_encoders = copy.deepcopy(net.encoders).requires_grad_(False)
        self.distill = model.distill
        self.distill_weight = model.distill_weight
        if self.distill is not None:
            self.register_buffer("teacher", torch.as_tensor(teacher, dtype=torch.float32))
            if self.distill == "kl":
                self.distill_loss = SimilarityDistillLoss(model.distill_temperature)
            else:
                self.distill_loss = EmbeddingDistillLoss(self.distill)
                width = self.teacher.shape[1]
                self.distill_head = nn.Identity() if width == k else nn.Linear(k, width)
        # training-only alignment terms (a modality discriminator, cycle translators)
        self.alignment = AlignmentTerms(k, n_views, model.adversarial, model.cycle)
        # the last batch (views, mask, rows, embeddings) until after_step queues it
        self._pending: tuple[list[torch.Tensor], Any, torch.Tensor, Any] | None = None

    def train(self, mode: bool = True) -> ContrastiveTraining:
        super().train(mode)
        for i in self.frozen:  # frozen towers stay in inference mode (BatchNorm, dropout)
            self.net.encoders[i][0].eval()
        if hasattr(self, "momentum_encoders"):
            self.momentum_encoders.eval()
        return self

    def encode(self, views: list[torch.Tensor], mask: torch.Tensor | None = None
               ) -> list[torch.Tensor]:
        """Each view through its encoder; Gaussian input noise in training mode (not on
        the inputs of towers that read codes such as token ids). With a (m, n_views)
        ``mask``, only the rows that have a view go through its tower (the others' rows
        are zeros, never read by the loss)."""
        if self.training and self.input_noise > 0:
            views = [
                v + self.input_noise * torch.randn_like(v) if takes_features(enc) else v
                for enc, v in zip(self.net.encoders, views)
            ]
        if mask is None or bool(mask.all()):
            return [enc(v) for enc, v in zip(self.net.encoders, views)]
        out = []
        for i, (enc, v) in enumerate(zip(self.net.encoders, views)):
            rows = mask[:, i]
            z = enc(v[rows])
            out.append(z.new_zeros((len(v), z.shape[1])).index_put((rows,), z))
        return out

    def row_parameters(self) -> Any:
        """The towers' parameters: under several processes their gradients flow through
        each process's own rows of the gathered loss, and are summed."""
        return self.net.encoders.parameters()

    def loss_terms(self, Z: list[torch.Tensor], index: torch.Tensor,
                   mask: torch.Tensor | None = None) -> dict[str, Any]:
        """The loss of a batch from its embeddings Z (one (m, k) per view), rows ``index``
        (m,) and optional (m, n_views) mask: the pair loss summed over the contrasted
        pairs of views, on the rows that have both. Under several processes, the rows of
        every process's share of the batch (gathered: negatives from the global batch)."""
        if self.training and self._pending is not None:  # the keys a "queue" will hold
            self._pending = (*self._pending[:3], [z.detach() for z in Z])
        if distributed.active():
            Z = [distributed.gather_rows(z) for z in Z]
            mask = None if mask is None else distributed.gather_rows(mask)
            index = distributed.gather_rows(index)
        groups = self.groups[index]
        negatives, top_k = None, None
        if self.hard_negatives == "topk":
            top_k = self.n_hard
        elif self.hard_negatives in ("queue", "moco"):
            negatives = [queue.negatives() for queue in self.queues]
        contrastive, _ = pairwise_contrastive(self.net.objective, Z, self.pairs, groups, mask,
                                              negatives, top_k)
        terms = {"loss": contrastive, "contrastive": contrastive}
        if self.distill is not None:
            terms["distill"] = self._distill_loss(Z, self.teacher[index], mask)
            terms["loss"] = contrastive + self.distill_weight * terms["distill"]
        if self.alignment and self.training:
            terms = self.alignment(terms, Z, mask)
        return terms

    def _distill_loss(self, Z: list[torch.Tensor], teacher: torch.Tensor,
                      mask: torch.Tensor | None) -> torch.Tensor:
        """Distillation towards the teacher rows: "kl" over the contrasted pairs of views,
        the others over every view (each on the rows that have it)."""
        m = len(teacher)
        if self.distill == "kl":
            parts = [self.distill_loss(Z[i][r], Z[j][r], teacher[r]) for i, j in self.pairs
                     if int((r := rows_with_both(mask, i, j, m).to(teacher.device)).sum()) > 1]
        else:
            parts = [self.distill_loss(self.distill_head(z[r]), teacher[r])
                     for v, z in enumerate(Z)
                     if int((r := rows_with_both(mask, v, v, m).to(teacher.device)).sum())]
        return torch.stack(parts).mean() if parts else Z[0].sum() * 0.0

    def training_loss(self, views, mask, index) -> dict[str, Any]:  # noqa: ANN001
        self._pending = (views, mask, index, None)
        return self.loss_terms(self.encode(views, mask), index, mask)

    def backward_loss(self, views, mask, index) -> dict[str, Any]:  # noqa: ANN001
        """The batch's loss with its gradients accumulated (in chunks under GradCache, where
        rows a view lacks go through its tower as zeros and are then left out)."""
        if self.grad_cache_chunk is None or self.grad_cache_chunk >= len(index):
            terms = self.training_loss(views, mask, index)
            terms["loss"].backward()
            return terms
        self._pending = (views, mask, index, None)
        return grad_cache_backward(
            self.encode, views, lambda Z: self.loss_terms(Z, index, mask), self.grad_cache_chunk
        )

    @torch.no_grad()
    def after_step(self) -> None:
        """Queue this batch's keys: its own embeddings ("queue"), or, after the momentum
        update, the momentum encoders' embeddings of it ("moco")."""
        if self._pending is None or not hasattr(self, "queues"):
            return
        views, mask, index, keys = self._pending
        self._pending = None
        if self.hard_negatives == "moco":
            online = self.net.encoders.parameters()
            for source, target in zip(online, self.momentum_encoders.parameters()):
                target.mul_(self.momentum).add_(source.detach(), alpha=1 - self.momentum)
            keys = [enc(v) for enc, v in zip(self.momentum_encoders, views)]
        groups = self.groups[index]
        for v, (queue, key) in enumerate(zip(self.queues, keys)):
            rows = rows_with_both(mask, v, v, len(groups)).to(groups.device)
            queue.push(normalized(key[rows]), groups[rows])

    def validation_score(self, views, mask) -> float:  # noqa: ANN001
        """Mean of R@1, R@5, R@10 in both directions of every contrasted pair of views, on
        the validation rows that have both (in %)."""
        Z = [nn.functional.normalize(z, dim=-1).cpu().numpy() for z in self.encode(views, mask)]
        scores = []
        for i, j in self.pairs:
            rows = rows_with_both(mask, i, j, len(Z[0])).cpu().numpy()
            if rows.sum() < 2:
                continue
            groups = self.val_groups[rows]
            report = cross_modal_retrieval(Z[i][rows], Z[j][rows], groups_a=groups,
                                           groups_b=groups, ks=(1, 5, 10))
            scores += [d[f"R@{k}"] for d in report.values() for k in (1, 5, 10)]
        return float(np.mean(scores)) if scores else 0.0

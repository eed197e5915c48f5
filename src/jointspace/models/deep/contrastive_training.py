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
from jointspace.metrics import cross_modal_retrieval
from jointspace.models.deep.towers import takes_features
from jointspace.train import grad_cache_backward

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
            model: the ContrastiveDualEncoder whose options apply.
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
        self.register_buffer("groups", torch.as_tensor(groups, dtype=torch.long))
        self.val_groups: np.ndarray | None = None
        k = model.n_components
        if self.hard_negatives in ("queue", "moco"):
            self.queues = nn.ModuleList([EmbeddingQueue(model.queue_size, k) for _ in range(2)])
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
        self.alignment = AlignmentTerms(k, 2, model.adversarial, model.cycle)
        # the last batch (views, rows, embeddings) until after_step queues it
        self._pending: tuple[list[torch.Tensor], torch.Tensor, Any] | None = None

    def train(self, mode: bool = True) -> ContrastiveTraining:
        super().train(mode)
        for i in self.frozen:  # frozen towers stay in inference mode (BatchNorm, dropout)
            self.net.encoders[i][0].eval()
        if hasattr(self, "momentum_encoders"):
            self.momentum_encoders.eval()
        return self

    def encode(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each view through its encoder; Gaussian input noise in training mode (not on
        the inputs of towers that read codes such as token ids)."""
        if self.training and self.input_noise > 0:
            views = [
                v + self.input_noise * torch.randn_like(v) if takes_features(enc) else v
                for enc, v in zip(self.net.encoders, views)
            ]
        return [enc(v) for enc, v in zip(self.net.encoders, views)]

    def loss_terms(self, Z: list[torch.Tensor], index: torch.Tensor) -> dict[str, Any]:
        """The loss of a batch from its embeddings Z (two (m, k)) and rows ``index`` (m,)."""
        A, B = Z
        if self.training and self._pending is not None:  # the keys a "queue" will hold
            self._pending = (self._pending[0], index, [A.detach(), B.detach()])
        groups = self.groups[index]
        options: dict[str, Any] = {}
        if self.hard_negatives == "topk":
            options["top_k"] = self.n_hard
        elif self.hard_negatives in ("queue", "moco"):
            options["negatives_a"] = self.queues[1].negatives()  # past B for the A anchors
            options["negatives_b"] = self.queues[0].negatives()
        contrastive = self.net.objective(A, B, groups, **options)
        terms = {"loss": contrastive, "contrastive": contrastive}
        if self.distill is not None:
            teacher = self.teacher[index]
            if self.distill == "kl":
                distill = self.distill_loss(A, B, teacher)
            else:
                head = self.distill_head
                distill = 0.5 * (
                    self.distill_loss(head(A), teacher) + self.distill_loss(head(B), teacher)
                )
            terms["distill"] = distill
            terms["loss"] = contrastive + self.distill_weight * distill
        if self.alignment and self.training:
            terms = self.alignment(terms, [A, B])
        return terms

    def training_loss(self, views, mask, index) -> dict[str, Any]:  # noqa: ANN001
        self._pending = (views, index, None)
        return self.loss_terms(self.encode(views), index)

    def backward_loss(self, views, mask, index) -> dict[str, Any]:  # noqa: ANN001
        """The batch's loss with its gradients accumulated (in chunks under GradCache)."""
        if self.grad_cache_chunk is None or self.grad_cache_chunk >= len(index):
            terms = self.training_loss(views, mask, index)
            terms["loss"].backward()
            return terms
        self._pending = (views, index, None)
        return grad_cache_backward(
            self.encode, views, lambda Z: self.loss_terms(Z, index), self.grad_cache_chunk
        )

    @torch.no_grad()
    def after_step(self) -> None:
        """Queue this batch's keys: its own embeddings ("queue"), or, after the momentum
        update, the momentum encoders' embeddings of it ("moco")."""
        if self._pending is None or not hasattr(self, "queues"):
            return
        views, index, keys = self._pending
        self._pending = None
        if self.hard_negatives == "moco":
            online = self.net.encoders.parameters()
            for source, target in zip(online, self.momentum_encoders.parameters()):
                target.mul_(self.momentum).add_(source.detach(), alpha=1 - self.momentum)
            keys = [enc(v) for enc, v in zip(self.momentum_encoders, views)]
        for queue, key in zip(self.queues, keys):
            queue.push(normalized(key), self.groups[index])

    def validation_score(self, views, mask) -> float:  # noqa: ANN001
        """Mean of R@1, R@5, R@10 in both directions on the validation rows (in %)."""
        A, B = (nn.functional.normalize(z, dim=-1).cpu().numpy() for z in self.encode(views))
        groups = self.val_groups
        report = cross_modal_retrieval(A, B, groups_a=groups, groups_b=groups, ks=(1, 5, 10))
        return float(np.mean([d[f"R@{k}"] for d in report.values() for k in (1, 5, 10)]))

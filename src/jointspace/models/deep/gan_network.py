"""The networks and the objective of :class:`~jointspace.models.deep.gan.ConditionalViewGAN`:
one conditional generator and one conditional discriminator per view, trained through the
one :class:`~jointspace.train.Trainer` by ``backward_loss``.

For a target view j and a batch of m rows, the condition c_j is the other views'
standardized features (a hidden or missing view's zeroed) followed by their mask bits:
(m, Σ_{i≠j} d_i + n_views − 1). Then

    G_j(noise ‖ c_j) → x̂_j            (m, noise_dim + |c_j|) → (m, d_j)
    D_j(x_j ‖ c_j) → logit              (m, d_j + |c_j|) → (m, 1)

    loss_D = softplus(−D(x ‖ c)) + softplus(D(x̂.detach() ‖ c))        gradients: D only
    loss_G = softplus(−D_frozen(x̂ ‖ c)) + λ · rec(x̂, x)               gradients: G only

(the non-saturating GAN loss, pix2pix's reconstruction term: L1 or L2 per feature), each
averaged over the rows that have view j and at least one other view, summed over targets.
``D_frozen`` is D called with detached weights (``torch.func.functional_call``), so G's loss
sends no gradient into D; one backward pass of the sum therefore gives every parameter the
gradient of its own player's loss, and the Trainer's one AdamW steps both players at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jointspace.layers import MLP


def condition_width(dims: Sequence[int], j: int) -> int:
    """Width of target j's condition: the other views' features and mask bits."""
    return sum(d for i, d in enumerate(dims) if i != j) + len(dims) - 1


def condition(views: Sequence[torch.Tensor], keep: torch.Tensor, j: int) -> torch.Tensor:
    """(m, condition_width) condition of target ``j``: views i ≠ j where ``keep[:, i]``
    (others zeroed, whatever they hold), then the bits of ``keep`` without column j."""
    parts = [torch.where(keep[:, i : i + 1], v, torch.zeros((), dtype=v.dtype))
             for i, v in enumerate(views) if i != j]
    bits = torch.cat([keep[:, :j], keep[:, j + 1 :]], dim=1).to(views[0].dtype)
    return torch.cat([*parts, bits], dim=1)


class ConditionalGANNetwork(nn.Module):
    """Per view j a generator ``generators[j]`` and a discriminator ``discriminators[j]``
    (see the module doc).

    Args:
        dims: d_j per view.
        noise_dim: width of the generator's Gaussian noise.
        hidden: hidden widths of both MLPs (ReLU in G, leaky ReLU in D).
        reconstruction: "l1" or "l2"; weight: λ.
        condition_dropout: in training, the share of rows conditioned on a random subset of
            their observed conditioning views (its size uniform from 1 to their number)
            instead of all of them.
        input_noise: standard deviation of Gaussian noise on the conditioning features in
            training.
    """

    def __init__(self, dims: Sequence[int], noise_dim: int, hidden: Sequence[int],
                 reconstruction: str, weight: float, condition_dropout: float,
                 input_noise: float = 0.0):
        super().__init__()
        self.dims = [int(d) for d in dims]
        self.noise_dim = int(noise_dim)
        self.generators = nn.ModuleList(
            MLP(self.noise_dim + condition_width(self.dims, j), d, hidden)
            for j, d in enumerate(self.dims))
        self.discriminators = nn.ModuleList(
            MLP(d + condition_width(self.dims, j), 1, hidden, activation="leaky_relu")
            for j, d in enumerate(self.dims))
        self.reconstruction = reconstruction
        self.weight = float(weight)
        self.condition_dropout = float(condition_dropout)
        self.input_noise = float(input_noise)

    # ------------------------------------------------------------------ random draws
    def draws(self, mask: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per target j: (rows (m,) bool: the rows that train it, keep (m, n_views) bool:
        the conditioning views after condition dropout, noise (m, noise_dim)), drawn from
        torch's global generator (which the Trainer seeds per epoch)."""
        out = []
        m, n = mask.shape
        for j in range(n):
            others = mask.clone()
            others[:, j] = False
            rows = mask[:, j] & others.any(dim=1)
            # a dropped-out row keeps a random subset of its conditioning views, of a size
            # uniform in 1 … (their number): single views are as common as pairs
            count = others.sum(dim=1)
            size = (torch.rand(m, device=mask.device) * count).floor() + 1
            scores = torch.where(others, torch.rand(m, n, device=mask.device), -1.0)
            rank = scores.argsort(dim=1, descending=True).argsort(dim=1)
            subset = others & (rank < size[:, None])
            dropped = torch.rand(m, device=mask.device) < self.condition_dropout
            keep = torch.where(dropped[:, None], subset, others)
            out.append((rows, keep, torch.randn(m, self.noise_dim, device=mask.device)))
        return out

    # ------------------------------------------------------------------ the objective
    def _rec(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        diff = fake - real
        return diff.abs().mean() if self.reconstruction == "l1" else diff.square().mean()

    def losses(self, views: list[torch.Tensor], mask: torch.Tensor, j: int,
               draw: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Target j's terms on the rows ``draw`` selects: "d" (D's loss, on detached
        fakes), "g" (G's loss through D with detached weights: adversarial + λ · "rec")."""
        rows, keep, noise = draw
        given = views
        if self.training and self.input_noise > 0:  # on the conditioning features only
            given = [v + self.input_noise * torch.randn_like(v) for v in views]
        c = condition(given, keep, j)[rows]
        real = views[j][rows]
        fake = self.generators[j](torch.cat([noise[rows], c], dim=1))
        disc = self.discriminators[j]
        d_loss = (F.softplus(-disc(torch.cat([real, c], dim=1))).mean()
                  + F.softplus(disc(torch.cat([fake.detach(), c], dim=1))).mean())
        frozen = {k: v.detach() for k, v in disc.named_parameters()}
        fooled = torch.func.functional_call(disc, frozen, (torch.cat([fake, c], dim=1),))
        rec = self._rec(fake, real)
        return {"d": d_loss, "g": F.softplus(-fooled).mean() + self.weight * rec, "rec": rec}

    def backward_loss(self, views: list[torch.Tensor], mask: torch.Tensor) -> dict[str, Any]:
        """Every target's D and G losses with their gradients (see the module doc); returns
        the terms shown: "loss" (D + G), "d", "g", "rec"."""
        totals = {k: torch.zeros(()) for k in ("d", "g", "rec")}
        total = None
        for j, draw in enumerate(self.draws(mask)):
            if int(draw[0].sum()) == 0:
                continue
            terms = self.losses(views, mask, j, draw)
            total = terms["d"] + terms["g"] if total is None else total + terms["d"] + terms["g"]
            for k in totals:
                totals[k] = totals[k] + terms[k].detach()
        if total is not None:
            total.backward()
        return {"loss": totals["d"] + totals["g"], **totals}

    def validation_score(self, views: list[torch.Tensor], mask: torch.Tensor) -> float:
        """Minus the mean squared error of each G_j (zero noise, every other observed view
        conditioning) on the rows that have view j and another view, averaged over views."""
        errors = []
        for j in range(len(views)):
            others = mask.clone()
            others[:, j] = False
            rows = mask[:, j] & others.any(dim=1)
            if rows.any():
                c = condition(views, others, j)[rows]
                noise = torch.zeros(len(c), self.noise_dim, dtype=c.dtype, device=c.device)
                fake = self.generators[j](torch.cat([noise, c], dim=1))
                errors.append(float((fake - views[j][rows]).square().mean()))
        return -sum(errors) / max(len(errors), 1)

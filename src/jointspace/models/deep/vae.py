"""Multimodal variational autoencoders: one class, three joint posteriors.

Each view has an encoder giving a Gaussian expert q_i(z | x_i) (a tower whose output is the
mean and log-variance) and a decoder p(x_i | z). The joint posterior over the views a sample
has is

- ``"poe"``: their product with the prior expert (MVAE, Wu & Goodman 2018), trained on the
  sum of the ELBOs of the joint posterior and of each single view's;
- ``"moe"``: their uniform mixture (MMVAE, Shi et al. 2019), trained by stratified sampling:
  one sample from each expert, every view reconstructed from it;
- ``"mopoe"``: the mixture over every subset of views of the subset's product (MoPoE,
  Sutter et al. 2021), trained on the mean over subsets of each subset's ELBO.

The KL terms are weighted by β. Samples with missing views train on the views they have.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from jointspace.losses.variational import (
    LOGVAR_RANGE,
    gaussian_kl,
    gaussian_log_density,
    log_likelihood,
    mixture_log_density,
    product_of_experts,
    reparameterize,
)
from jointspace.models.constraints import NON_NEGATIVE, POSITIVE_INT
from jointspace.models.deep.base import DEEP_CONSTRAINTS, DeepJointModel
from jointspace.models.deep.generative import CrossGeneration, float64_call
from jointspace.models.deep.towers import MLP, build_tower, widths
from jointspace.train.options import TrainingOptions

POSTERIORS = ("poe", "moe", "mopoe")
LIKELIHOODS = ("gaussian", "bernoulli")


class GaussianHead(nn.Module):
    """A tower whose (m, 2k) output is read as a Gaussian: (mean, log-variance), each (m, k);
    the log-variance clamped to :data:`~jointspace.losses.variational.LOGVAR_RANGE`."""

    def __init__(self, tower: nn.Module, k: int):
        super().__init__()
        self.tower = tower
        self.k = k

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.tower(x)
        return out[:, : self.k], out[:, self.k :].clamp(*LOGVAR_RANGE)


class PosteriorMean(nn.Module):
    """View i alone → the mean of its posterior ((m, d_i) → (m, k)): the expert's own mean
    (``with_prior=False``, MoE) or its product with the prior expert (PoE, MoPoE)."""

    def __init__(self, expert: GaussianHead, with_prior: bool):
        super().__init__()
        self.expert = expert
        self.with_prior = with_prior

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.expert(x)
        if not self.with_prior:
            return mu
        seen = torch.ones((len(x), 1), dtype=torch.bool, device=x.device)
        return product_of_experts([mu], [logvar], seen)[0]


class VAENetwork(nn.Module):
    """The experts, decoders and the ELBO of one joint posterior (see the module doc)."""

    def __init__(self, experts: Sequence[GaussianHead], decoders: Sequence[nn.Module],
                 posterior: str, beta: float, likelihoods: Sequence[str], kl_warmup: int = 0):
        super().__init__()
        self.experts = nn.ModuleList(experts)
        self.decoders = nn.ModuleList(decoders)
        self.posterior = posterior
        self.beta = beta
        self.likelihoods = list(likelihoods)
        self.kl_warmup = kl_warmup
        # training batches seen (β ramps up over the first kl_warmup): a buffer, so a
        # checkpoint keeps it and a resumed run ramps on where it stopped
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @property
    def current_beta(self) -> float:
        """β, ramped linearly from 0 over the first ``kl_warmup`` training batches."""
        if self.kl_warmup <= 0:
            return self.beta
        return self.beta * min(1.0, int(self.steps) / self.kl_warmup)

    def view_encoder(self, i: int) -> nn.Module:
        return PosteriorMean(self.experts[i], with_prior=self.posterior != "moe")

    def _sample(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return reparameterize(mu, logvar) if self.training else mu

    def reconstruction(self, z: torch.Tensor, views: list[torch.Tensor],
                       mask: torch.Tensor) -> torch.Tensor:
        """Σ_j over observed views of log p(x_j | z), per row: (m,)."""
        total = torch.zeros(len(z), dtype=z.dtype, device=z.device)
        for j, (decoder, x, kind) in enumerate(zip(self.decoders, views, self.likelihoods)):
            seen = mask[:, j]
            ll = log_likelihood(kind, decoder(z), torch.where(seen[:, None], x, 0.0))
            total = total + torch.where(seen, ll, torch.zeros_like(ll))
        return total

    def elbo(self, views: list[torch.Tensor],
             mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(objective, reconstruction, KL) per row, each (m,); the objective to maximize is
        reconstruction − β KL, summed (PoE) or averaged (MoE, MoPoE) over its terms."""
        safe = [torch.where(mask[:, i : i + 1], v, 0.0) for i, v in enumerate(views)]
        mus, logvars = zip(*(e(v) for e, v in zip(self.experts, safe)))
        if self.posterior == "moe":
            return self._moe(list(mus), list(logvars), views, mask)
        n = len(views)
        if self.posterior == "poe":  # the joint and each single view (MVAE's subsampling)
            subsets = [tuple(range(n))] + [(i,) for i in range(n)]
        else:
            subsets = [s for r in range(1, n + 1) for s in itertools.combinations(range(n), r)]
        recon = kl = count = torch.zeros(len(mask), dtype=views[0].dtype, device=mask.device)
        for subset in subsets:
            chosen = torch.zeros_like(mask)
            chosen[:, list(subset)] = True
            part = mask & chosen
            valid = part.any(dim=1)
            mu, logvar = product_of_experts(list(mus), list(logvars), part)
            r = self.reconstruction(self._sample(mu, logvar), views, mask)
            recon = recon + torch.where(valid, r, 0.0)
            kl = kl + torch.where(valid, gaussian_kl(mu, logvar), 0.0)
            count = count + valid.to(count.dtype)
        if self.posterior == "mopoe":
            recon, kl = recon / count, kl / count
        return recon - self.current_beta * kl, recon, kl

    def _moe(self, mus: list[torch.Tensor], logvars: list[torch.Tensor],
             views: list[torch.Tensor], mask: torch.Tensor):
        recon = kl = torch.zeros(len(mask), dtype=views[0].dtype, device=mask.device)
        for i, (mu, logvar) in enumerate(zip(mus, logvars)):
            seen = mask[:, i]
            z = self._sample(mu, logvar)
            prior = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
            k = mixture_log_density(z, mus, logvars, mask) - prior
            recon = recon + torch.where(seen, self.reconstruction(z, views, mask), 0.0)
            kl = kl + torch.where(seen, k, 0.0)
        count = mask.sum(dim=1).clamp_min(1).to(recon.dtype)
        recon, kl = recon / count, kl / count
        return recon - self.current_beta * kl, recon, kl

    def training_loss(self, views: list[torch.Tensor], mask: torch.Tensor) -> dict[str, Any]:
        objective, recon, kl = self.elbo(views, mask)
        self.steps.add_(1)
        return {"loss": -objective.mean(), "recon": -recon.mean(), "kl": kl.mean()}

    def validation_score(self, views: list[torch.Tensor], mask: torch.Tensor) -> float:
        _, recon, kl = self.elbo(views, mask)  # at the full β, whatever the warm-up
        return float((recon - self.beta * kl).mean())


class MultimodalVAE(CrossGeneration, DeepJointModel):
    """Multimodal VAE (scikit-learn estimator, JointModel contract) with the joint posterior
    of MVAE (``"poe"``), MMVAE (``"moe"``) or MoPoE (``"mopoe"``).

    ``transform`` gives each view's posterior mean alone (for search across views), ``fuse``
    the joint posterior mean over the views a sample has, and :meth:`generate` decodes one
    view from others (cross-modal generation, or imputing a missing view).

    Args:
        n_components: k, the latent dimension.
        posterior: "poe", "moe" or "mopoe".
        beta: weight of the KL terms (β-VAE; 1 is the ELBO).
        kl_warmup: training batches over which the KL weight ramps linearly from 0 to β
            (against posterior collapse, where the decoders learn to ignore the code).
        likelihood: "gaussian" (unit variance: standardized features) or "bernoulli"
            (features in [0, 1], such as pixels), one for every view or one per view.
        tower, hidden, activation, dropout, batch_norm: the encoders (an "mlp" tower ends in
            2k outputs); decoders are MLPs with the hidden widths reversed.
        missing: views that samples lack, at fit and at query time: "mask", "drop",
            "zero", "mean" or "model" (see :mod:`jointspace.models.missing_views`); None:
            "mask", the views a sample lacks are masked in training.
        training: changes to the training options, a dict (see
            :class:`~jointspace.train.options.TrainingOptions`); the validation score is
            the ELBO.
        random_state: seed of the weights and of every epoch's shuffling and noise.

    The defaults are the measured best for cross-modal generation on mnist-halves
    (``benchmarks/bench_vae.py``): 2 × 512 ReLU layers, 50 epochs of AdamW at lr 3e-3 in
    batches of 128, β = 1 reached over 500 batches. Without the warm-up the PoE and MoPoE
    posteriors collapsed there (a KL near 0: the decoders ignored the code).

    Fitted attributes: ``network_``, ``history_``, ``best_epoch_``, ``n_components_``,
    ``canonical_correlations_`` (of the per-view posterior means on complete training rows).

    Example:
        >>> vae = MultimodalVAE(20, posterior="mopoe", likelihood="bernoulli").fit(train)
        >>> right = vae.generate(test["left"], from_view="left", to_view="right")
    """

    fits_missing_views: ClassVar[bool] = True
    training_defaults: ClassVar[TrainingOptions] = TrainingOptions(
        epochs=50, batch_size=128, lr=3e-3)
    _parameter_constraints: ClassVar[dict] = {
        **DEEP_CONSTRAINTS,
        "n_components": [POSITIVE_INT],
        "posterior": [StrOptions(set(POSTERIORS))],
        "beta": [NON_NEGATIVE],
        "kl_warmup": [Interval(Integral, 0, None, closed="left")],
        "likelihood": [StrOptions(set(LIKELIHOODS)), list, tuple],
    }

    def __init__(
        self,
        n_components: int = 20,
        *,
        posterior: str = "mopoe",
        beta: float = 1.0,
        kl_warmup: int = 500,
        likelihood: str | Sequence[str] = "gaussian",
        tower: Any = "mlp",
        hidden: Sequence[int] = (512, 512),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        missing: str | None = None,
        training: dict | None = None,
        random_state: int | None = 0,
    ):
        self.n_components = n_components
        self.posterior = posterior
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.likelihood = likelihood
        self.tower = tower
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.missing = missing
        self.training = training
        self.random_state = random_state

    @property
    def _out_dim(self) -> int:
        return int(self.n_components)

    def _likelihoods(self, n_views: int) -> list[str]:
        kinds = [self.likelihood] * n_views if isinstance(self.likelihood, str) \
            else list(self.likelihood)
        if len(kinds) != n_views or any(k not in LIKELIHOODS for k in kinds):
            raise ValueError(f"likelihood={self.likelihood!r}; expected one of {LIKELIHOODS} "
                             f"or a list of {n_views} of them (one per view)")
        return kinds

    def _after_load(self) -> None:
        # a save from before the batch counter was part of the network's state
        self.network_state_.setdefault("steps", np.array(self.kl_warmup, dtype=np.int64))
        super()._after_load()

    def _build_network(self, dims: list[int]) -> VAENetwork:
        specs = self.tower if isinstance(self.tower, list | tuple) else [self.tower] * len(dims)
        if len(specs) != len(dims):
            raise ValueError(f"tower has {len(specs)} entries; expected one per view ({len(dims)})")
        k = self._out_dim
        mlp = {"hidden": widths(self.hidden), "activation": self.activation,
               "dropout": self.dropout, "batch_norm": self.batch_norm}
        experts = [GaussianHead(build_tower(s, d, 2 * k, **mlp), k) for s, d in zip(specs, dims)]
        decoders = [MLP(k, d, hidden=widths(self.hidden)[::-1], activation=self.activation)
                    for d in dims]
        return VAENetwork(experts, decoders, self.posterior, float(self.beta),
                          self._likelihoods(len(dims)), int(self.kl_warmup))

    def _fit_arrays(self, arrays: list[np.ndarray], mask: np.ndarray) -> None:
        self._likelihoods(len(arrays))
        if "bernoulli" in self._likelihoods(len(arrays)):
            for a, kind, seen in zip(arrays, self._likelihoods(len(arrays)), mask.T):
                if kind == "bernoulli" and (a[seen].min() < 0 or a[seen].max() > 1):
                    raise ValueError("likelihood 'bernoulli' needs features in [0, 1]; a view "
                                     f"has values in [{a[seen].min():.3g}, {a[seen].max():.3g}]")
        torch.manual_seed(self._seed)
        network = self._build_network([a.shape[1] for a in arrays])
        train, val = self._split_rows(len(mask))
        self._train(network, arrays, mask, train, val)
        self.network_ = network.cpu().eval()
        self.n_components_ = self._out_dim
        complete = mask.all(axis=1)
        Z = [self._encode(i, a[complete]) for i, a in enumerate(arrays)]
        from jointspace.metrics import canonical_correlations

        self.canonical_correlations_ = canonical_correlations(*Z)

    def _transform_array(self, i: int, X: np.ndarray) -> np.ndarray:
        return self._encode(i, X)

    def _decoder_kinds(self) -> list[str]:
        return self._likelihoods(self.n_views_)

    def _joint_code(self, arrays: list[np.ndarray], mask: np.ndarray) -> np.ndarray:
        """(m, k) mean of the joint posterior over each row's observed views."""
        self.network_.eval()
        experts = [float64_call(e, torch.as_tensor(np.where(seen[:, None], a, 0.0)))
                   for e, a, seen in zip(self.network_.experts, arrays, mask.T)]
        mus, logvars = [m for m, _ in experts], [lv for _, lv in experts]
        seen = torch.as_tensor(mask)
        if self.posterior == "moe":
            total = sum(torch.where(seen[:, i : i + 1], mu, 0.0) for i, mu in enumerate(mus))
            return (total / seen.sum(dim=1, keepdim=True).clamp_min(1)).numpy()
        return product_of_experts(mus, logvars, seen)[0].numpy()

    def fuse(self, views: Any) -> np.ndarray:
        """(m, k) mean of the joint posterior over the views each sample has (PoE for "poe"
        and "mopoe", the mixture's mean for "moe")."""
        mv, arrays = self._validate_views(views, fitting=False)
        arrays, mask = self._arrays_to_embed(mv, arrays)  # filled by a fill strategy
        if not mask.any(axis=1).all():
            rows = np.flatnonzero(~mask.any(axis=1))
            raise ValueError(f"samples {rows[:5].tolist()} have no observed view")
        return self._joint_code(arrays, mask)

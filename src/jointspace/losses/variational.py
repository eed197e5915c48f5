"""The pieces of multimodal variational objectives, each a small function with its formula.

Posteriors are diagonal Gaussians given as (mean, log-variance), each (m, k); a mask (m, M)
says which of M views (experts) each sample has. A missing expert never contributes: its
entries are replaced before any arithmetic, so NaN there is harmless.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: log-variances are clamped to this range (variances e^-10 … e^10) for stability
LOGVAR_RANGE = (-10.0, 10.0)
LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ_d (σ² + μ² − 1 − log σ²), per row: (m, k) → (m,)."""
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=1)


def product_of_experts(
    mus: list[torch.Tensor], logvars: list[torch.Tensor], mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The product of the observed Gaussian experts and the prior expert N(0, I) (MVAE).

    Precisions add: T = 1 + Σ_i m_i / σ_i², and μ = (Σ_i m_i μ_i / σ_i²) / T, σ² = 1 / T.

    Args:
        mus, logvars: one (m, k) tensor per expert.
        mask: (m, M) bool, True where expert i is observed for the row.
    Returns:
        (μ, log σ²), each (m, k).
    """
    precision = torch.ones_like(mus[0])
    weighted = torch.zeros_like(mus[0])
    for i, (mu, lv) in enumerate(zip(mus, logvars)):
        seen = mask[:, i : i + 1]
        p = torch.where(seen, torch.exp(-lv), torch.zeros_like(lv))
        precision = precision + p
        weighted = weighted + torch.where(seen, mu, torch.zeros_like(mu)) * p
    return weighted / precision, -torch.log(precision)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, σ²) summed over dimensions: (m, k) → (m,)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(dim=1)


def mixture_log_density(
    z: torch.Tensor, mus: list[torch.Tensor], logvars: list[torch.Tensor], mask: torch.Tensor
) -> torch.Tensor:
    """log of the uniform mixture of the observed experts at z (MMVAE's joint posterior):
    log (1/|O|) Σ_{i∈O} N(z; μ_i, σ_i²), per row: (m,)."""
    terms = []
    for i, (mu, lv) in enumerate(zip(mus, logvars)):
        seen = mask[:, i]
        safe_mu = torch.where(seen[:, None], mu, torch.zeros_like(mu))
        safe_lv = torch.where(seen[:, None], lv, torch.zeros_like(lv))
        log_p = gaussian_log_density(z, safe_mu, safe_lv)
        terms.append(torch.where(seen, log_p, torch.full_like(log_p, -math.inf)))
    count = mask.sum(dim=1).clamp_min(1).to(z.dtype)
    return torch.logsumexp(torch.stack(terms, dim=1), dim=1) - torch.log(count)


def log_likelihood(kind: str, logits_or_mean: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) per row, summed over features: (m, d) → (m,).

    "bernoulli": x in [0, 1], the decoder gives logits: −BCE(logits, x).
    "gaussian": unit variance around the decoder's mean: −½ ‖x − x̂‖² − ½ d log 2π.
    """
    if kind == "bernoulli":
        return -nn.functional.binary_cross_entropy_with_logits(
            logits_or_mean, x, reduction="none").sum(dim=1)
    if kind == "gaussian":
        return -0.5 * ((x - logits_or_mean).pow(2) + LOG_2PI).sum(dim=1)
    raise ValueError(f"likelihood {kind!r}; expected 'bernoulli' or 'gaussian'")


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = μ + σ ε, ε ~ N(0, I) in training; the mean otherwise is left to the caller."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

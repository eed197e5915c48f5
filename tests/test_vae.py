"""Multimodal VAEs: the ELBO's pieces against direct computations, masks that never read a
missing view, cross-modal generation on real digits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from jointspace import MultiView, load_dataset
from jointspace.losses.variational import (
    gaussian_kl,
    log_likelihood,
    mixture_log_density,
    product_of_experts,
)
from jointspace.models import MultimodalVAE

TINY = {
    "hidden": (32,),
    "kl_warmup": 0,
    "training": {"epochs": 3, "batch_size": 100, "progress": False, "threads": 1},
}


@pytest.fixture(scope="module")
def gaussians():
    g = torch.Generator().manual_seed(0)
    mus = [torch.randn(6, 3, generator=g, dtype=torch.float64) for _ in range(3)]
    logvars = [torch.randn(6, 3, generator=g, dtype=torch.float64) for _ in range(3)]
    mask = torch.tensor(
        [[1, 1, 1], [1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 1, 0]], dtype=torch.bool
    )
    return mus, logvars, mask


def test_kl_matches_torch_distributions(gaussians):
    mus, logvars, _ = gaussians
    q = torch.distributions.Normal(mus[0], (0.5 * logvars[0]).exp())
    p = torch.distributions.Normal(torch.zeros(3, dtype=torch.float64), 1.0)
    expected = torch.distributions.kl_divergence(q, p).sum(dim=1)
    torch.testing.assert_close(gaussian_kl(mus[0], logvars[0]), expected)


def test_product_of_experts_is_the_normalized_product_of_densities(gaussians):
    # log Π_i N(z; μ_i, σ_i²) · N(z; 0, 1) − log N(z; μ, σ²) must not depend on z
    mus, logvars, mask = gaussians
    mu, logvar = (t.numpy() for t in product_of_experts(mus, logvars, mask))
    mus, logvars = [m.numpy() for m in mus], [lv.numpy() for lv in logvars]
    for row in range(6):
        gaps = []
        for z in np.linspace(-3, 3, 7):
            product = norm.logpdf(np.full(3, z)).sum()  # the prior expert
            for i in range(3):
                if mask[row, i]:
                    product += norm.logpdf(z, mus[i][row], np.exp(0.5 * logvars[i][row])).sum()
            joint = norm.logpdf(z, mu[row], np.exp(0.5 * logvar[row])).sum()
            gaps.append(product - joint)
        np.testing.assert_allclose(gaps, gaps[0], atol=1e-9)


def test_mixture_density_against_a_loop(gaussians):
    mus, logvars, mask = gaussians
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = mixture_log_density(z, mus, logvars, mask)
    for row in range(6):
        terms = [
            norm.logpdf(
                z[row].numpy(), mus[i][row].numpy(), np.exp(0.5 * logvars[i][row].numpy())
            ).sum()
            for i in range(3)
            if mask[row, i]
        ]
        assert float(got[row]) == pytest.approx(logsumexp(terms) - np.log(len(terms)), abs=1e-9)


def test_log_likelihoods_against_their_formulas():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 5, generator=g, dtype=torch.float64)
    logits = torch.randn(4, 5, generator=g, dtype=torch.float64)
    p = torch.sigmoid(logits)
    bern = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=1)
    torch.testing.assert_close(log_likelihood("bernoulli", logits, x), bern)
    gauss = torch.distributions.Normal(logits, 1.0).log_prob(x).sum(dim=1)
    torch.testing.assert_close(log_likelihood("gaussian", logits, x), gauss)


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("mnist-halves")
    return data.subset(np.arange(0, 5000, 5)[:600]), data.subset(np.arange(1, 5000, 50)[:80])


@pytest.mark.parametrize("posterior", ["poe", "moe", "mopoe"])
def test_elbo_is_its_terms_computed_by_hand(digits, posterior):
    # in eval mode z is the posterior mean: the ELBO is deterministic and can be recomputed
    train, test = digits
    model = MultimodalVAE(4, posterior=posterior, likelihood="bernoulli", **TINY).fit(train)
    net = model.network_.double().eval()
    views = [torch.as_tensor(test["left"]), torch.as_tensor(test["right"])]
    mask = torch.ones((len(test), 2), dtype=torch.bool)
    mask[:20, 1] = False
    with torch.no_grad():
        objective, _, _ = net.elbo(views, mask)
        experts = [
            e(torch.where(mask[:, i : i + 1], v, 0.0))
            for i, (e, v) in enumerate(zip(net.experts, views))
        ]
        means = [mu.numpy() for mu, _ in experts]
        sds = [np.exp(0.5 * lv.numpy()) for _, lv in experts]

        def recon(z, row):
            return sum(
                float(log_likelihood("bernoulli", net.decoders[j](z[None]), views[j][row][None])[0])
                for j in range(2)
                if mask[row, j]
            )

        def poe(subset, row):
            precision = torch.ones(4, dtype=torch.float64)
            weighted = torch.zeros(4, dtype=torch.float64)
            for i in subset:
                p = torch.exp(-experts[i][1][row])
                precision, weighted = precision + p, weighted + experts[i][0][row] * p
            return weighted / precision, -torch.log(precision)

        for row in (0, 19, 20, 79):
            seen = [i for i in range(2) if mask[row, i]]
            if posterior == "moe":
                terms = []
                for i in seen:
                    z = means[i][row]
                    mix = logsumexp(
                        [norm.logpdf(z, means[j][row], sds[j][row]).sum() for j in seen]
                    ) - np.log(len(seen))
                    terms.append(recon(torch.as_tensor(z), row) - (mix - norm.logpdf(z).sum()))
                expected = np.mean(terms)
            else:
                subsets = (
                    [tuple(seen)] + [(i,) for i in seen]
                    if posterior == "poe"
                    else [s for r in (1, 2) for s in itertools.combinations(seen, r)]
                )
                if posterior == "poe" and len(seen) == 1:
                    subsets = [tuple(seen), tuple(seen)]
                terms = []
                for s in subsets:
                    mu, lv = poe(s, row)
                    kl = 0.5 * float((lv.exp() + mu**2 - 1 - lv).sum())
                    terms.append(recon(mu, row) - kl)
                expected = np.sum(terms) if posterior == "poe" else np.mean(terms)
            assert float(objective[row]) == pytest.approx(expected, rel=1e-9, abs=1e-8), row


@pytest.mark.parametrize("posterior", ["poe", "moe", "mopoe"])
def test_a_missing_view_is_never_read(digits, posterior):
    train, test = digits
    mask = np.ones((len(train), 2), dtype=bool)
    mask[::3, 1] = False  # a third of the training digits lack their right half
    views = {"left": train["left"], "right": train["right"].copy()}
    model = MultimodalVAE(4, posterior=posterior, likelihood="bernoulli", **TINY).fit(
        MultiView(views, mask=mask)
    )
    views["right"][::3] = 0.5  # what the missing slots held: the model must not change
    again = MultimodalVAE(4, posterior=posterior, likelihood="bernoulli", **TINY).fit(
        MultiView(views, mask=mask)
    )
    probe = MultiView(
        {
            "left": test["left"],
            "right": np.where(np.arange(len(test))[:, None] < 40, np.nan, test["right"]),
        },
        mask=np.c_[np.ones(len(test), bool), np.arange(len(test)) >= 40],
    )
    np.testing.assert_array_equal(model.fuse(probe), again.fuse(probe))
    fused = model.fuse(probe)
    np.testing.assert_allclose(
        fused[:40], model.transform_view("left", test["left"][:40]), atol=1e-12
    )  # one view observed: its own posterior
    imputed = model.generate(probe, to_view="right")
    np.testing.assert_allclose(
        imputed[:40],
        model.generate(test["left"][:40], from_view="left", to_view="right"),
        atol=1e-12,
    )
    assert np.isfinite(imputed).all() and imputed.min() >= 0 and imputed.max() <= 1


def test_bad_input_is_named(digits):
    train, _ = digits
    with pytest.raises(ValueError, match="'bernoulli' needs features in \\[0, 1\\]"):
        MultimodalVAE(2, likelihood="bernoulli", **TINY).fit([train["left"] * 3, train["right"]])
    with pytest.raises(ValueError, match="expected one of .* or a list of 2"):
        MultimodalVAE(2, likelihood=["gaussian"], **TINY).fit(train)


def test_kl_warmup_ramps_beta_over_the_first_batches_and_validation_uses_the_full_beta(digits):
    train, test = digits
    model = MultimodalVAE(4, beta=2.0, likelihood="bernoulli", **{**TINY, "kl_warmup": 8}).fit(
        train
    )
    net = model.network_.double()
    assert net.steps == 3 * 6  # 3 epochs of 600 rows in batches of 100
    views = [torch.as_tensor(test["left"]), torch.as_tensor(test["right"])]
    mask = torch.ones((len(test), 2), dtype=torch.bool)
    net.eval()
    with torch.no_grad():
        _, recon, kl = net.elbo(views, mask)
        for steps, beta in ((0, 0.0), (2, 0.5), (4, 1.0), (8, 2.0), (50, 2.0)):
            net.steps.fill_(steps)
            objective, _, _ = net.elbo(views, mask)
            torch.testing.assert_close(objective, recon - beta * kl)
            score = net.validation_score(views, mask)
            assert score == pytest.approx(float((recon - 2.0 * kl).mean()))

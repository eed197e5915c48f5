"""ConditionalViewGAN: fills of held-out views against the mean fill (and ridge, VAE),
generated mnist right halves named by a digit classifier, the gradient separation of its
backward_loss against a direct computation, NaN in missing slots, save/load, bad
parameters, and ViewImputer(generator="gan" / "vae")."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.svm import SVC
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted, validate_data

from jointspace import MultiView, load_dataset, train_test_split
from jointspace.models.deep.gan import ConditionalViewGAN
from jointspace.models.deep.gan_network import ConditionalGANNetwork
from jointspace.models.missing import ViewImputer

FAST = {"epochs": 8, "threads": 1, "progress": False}


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def mfeat():
    """uci-mfeat's fou, kar and mor views, 1,600 / 400 digits; kar removed from 30 % of the
    training digits (its slots NaN) and from every test digit. Returns (train, test, truth:
    the test digits' real kar)."""
    train, test = train_test_split(load_dataset("uci-mfeat").select(["fou", "kar", "mor"]),
                                   0.2, random_state=0)
    rng = np.random.default_rng(0)
    mask = np.ones((train.n_samples, 3), dtype=bool)
    mask[rng.random(train.n_samples) < 0.3, 1] = False
    views = {n: np.where(mask[:, [j]], train[n], np.nan) for j, n in enumerate(train.view_names)}
    hidden = np.ones((test.n_samples, 3), dtype=bool)
    hidden[:, 1] = False
    queries = MultiView({n: np.where(hidden[:, [j]], test[n], np.nan)
                         for j, n in enumerate(test.view_names)}, mask=hidden)
    return MultiView(views, mask=mask, labels=train.labels), queries, np.asarray(test["kar"])


@pytest.fixture(scope="module")
def imputers(mfeat):
    """ViewImputer("model") with each generator, fitted on the training digits."""
    train, _, _ = mfeat
    torch.set_num_threads(1)
    options = {"training": FAST}
    return {g: ViewImputer("model", generator=g,
                           generator_options=None if g == "ridge" else options).fit(train)
            for g in ("ridge", "vae", "gan")}


def test_gan_fill_beats_the_mean_fill_on_held_out_digits(mfeat, imputers):
    # measured: squared error relative to the mean fill's: ridge 0.714, VAE 0.672, GAN
    # 0.788 at these 8 epochs (0.747 at the GAN's default 30; with all six views the GAN
    # is best, 0.253 against ridge's 0.393: benchmarks/bench_gan.py)
    train, queries, truth = mfeat
    mean = np.nanmean(train["kar"], axis=0)
    base = np.mean((truth - mean) ** 2)
    errors = {g: np.mean((imp.transform(queries)["kar"] - truth) ** 2) / base
              for g, imp in imputers.items()}
    print({g: round(e, 3) for g, e in errors.items()})
    assert errors["gan"] < 0.85
    assert errors["vae"] < 0.85
    assert errors["gan"] < 1.25 * errors["ridge"]


def test_generator_imputers_fill_only_the_missing_slots(mfeat, imputers):
    train, _, _ = mfeat
    seen = train.mask[:, 1]
    for g in ("vae", "gan"):
        filled = imputers[g].transform(train)
        assert filled.mask.all()
        for name in ("fou", "mor"):
            np.testing.assert_array_equal(filled[name], train[name])
        np.testing.assert_array_equal(filled["kar"][seen], train["kar"][seen])
        assert np.isfinite(filled["kar"]).all()
        # the fill is the generator's output for those rows (the VAE's in standard units)
        imp = imputers[g]
        given = [np.nan_to_num(train[n][~seen]) for n in train.view_names]
        if g == "vae":
            given = [(a - m) / s for a, m, s in zip(given, imp.means_, imp.scales_)]
        direct = imp.generator_.generate(MultiView(dict(zip(train.view_names, given)),
                                                   mask=train.mask[~seen]), to_view="kar")
        if g == "vae":
            direct = direct * imp.scales_[1] + imp.means_[1]
        np.testing.assert_allclose(filled["kar"][~seen], direct, rtol=1e-10, atol=1e-10)


def test_generated_right_halves_are_recognized_by_a_digit_classifier(mnist_split):
    # measured: 0.772 with 3,000 training digits and 8 epochs (real right halves 0.886;
    # chance 0.10); 0.827 at the defaults on 4,000 (benchmarks/bench_gan.py)
    _, _, train, test = mnist_split
    train = train.subset(np.random.default_rng(0).permutation(train.n_samples)[:3000])
    classifier = SVC().fit(train["right"], train.labels)
    gan = ConditionalViewGAN(training=FAST).fit(train)
    right = gan.generate(test["left"], from_view="left", to_view="right")
    assert right.shape == test["right"].shape
    assert right.min() >= 0 and right.max() <= 1  # clipped to the pixels' range
    accuracy = classifier.score(right, test.labels)
    print(f"generated right halves: {accuracy:.3f}; real: "
          f"{classifier.score(test['right'], test.labels):.3f}")
    assert accuracy > 0.6


@pytest.fixture(scope="module")
def small():
    """A GAN fitted for 2 epochs on 300 uci-mfeat digits (fou, kar, mor; kar missing in a
    third, its slots NaN), and those views."""
    data = load_dataset("uci-mfeat").select(["fou", "kar", "mor"])
    data = data.subset(np.arange(0, 2000, 6)[:300])  # every digit class
    mask = np.ones((300, 3), dtype=bool)
    mask[::3, 1] = False
    views = {n: np.where(mask[:, [j]], data[n], np.nan) for j, n in enumerate(data.view_names)}
    torch.set_num_threads(1)
    gan = ConditionalViewGAN(hidden=32, training={**FAST, "epochs": 2}).fit(
        MultiView(views, mask=mask))
    return gan, views, mask


def test_nan_in_missing_slots_never_reaches_the_model_or_the_output(small):
    gan, views, mask = small
    other = {n: np.where(np.isnan(v), 123.0, v) for n, v in views.items()}
    twin = ConditionalViewGAN(hidden=32, training={**FAST, "epochs": 2}).fit(
        MultiView(other, mask=mask))
    for a, b in zip(gan.network_.parameters(), twin.network_.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    query = MultiView(views, mask=mask)
    out = gan.generate(query, to_view="mor")
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, twin.generate(MultiView(other, mask=mask),
                                                     to_view="mor"))


def test_generate_is_seeded_batch_independent_and_survives_save_and_load(small, tmp_path):
    gan, views, mask = small
    query = MultiView(views, mask=mask)
    out = gan.generate(query, to_view="kar", random_state=3)
    np.testing.assert_array_equal(out, gan.generate(query, to_view="kar", random_state=3))
    assert not np.allclose(out, gan.generate(query, to_view="kar", random_state=4))
    part = gan.generate(query.subset(np.arange(5, 17)), to_view="kar", random_state=3)
    np.testing.assert_allclose(part, out[5:17], rtol=1e-12, atol=1e-12)
    gan.save(tmp_path / "gan")
    loaded = ConditionalViewGAN.load(tmp_path / "gan")
    np.testing.assert_array_equal(loaded.generate(query, to_view="kar", random_state=3), out)
    one = loaded.generate(views["fou"][:4], from_view="fou", to_view="mor")
    assert one.shape == (4, 6)
    with pytest.raises(ValueError, match="holds a 'ViewImputer' model; expected"):
        ConditionalViewGAN.load(_fake_class(tmp_path / "gan"))


def _fake_class(path):
    import json

    target = path.parent / "other"
    target.mkdir()
    for f in path.iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    config = json.loads((target / "config.json").read_text())
    config["class"] = "ViewImputer"
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_a_sample_with_nothing_to_condition_on_is_a_clear_error(small):
    gan, views, mask = small
    alone = mask.copy()
    alone[:4] = [True, False, False]
    with pytest.raises(ValueError, match=r"samples \[0, 1, 2, 3\] .* no view besides 'fou'"):
        gan.generate(MultiView(views, mask=alone), to_view="fou")
    with pytest.raises(ValueError, match="from_view and to_view are both 'kar'"):
        gan.generate(views["kar"][1:3], from_view="kar", to_view="kar")
    with pytest.raises(ValueError, match=r"expected \(m, 64\) rows of view 'kar'"):
        gan.generate(views["fou"][:3], from_view="kar", to_view="mor")
    with pytest.raises(ValueError, match="view 'text' does not exist"):
        gan.generate(views["fou"][:3], from_view="fou", to_view="text")


@pytest.mark.parametrize("params, match", [
    ({"noise_dim": 0}, "'noise_dim' parameter of ConditionalViewGAN"),
    ({"reconstruction": "l3"}, "'reconstruction' parameter"),
    ({"condition_dropout": 1.0}, "'condition_dropout' parameter"),
    ({"reconstruction_weight": -1}, "'reconstruction_weight' parameter"),
    ({"training": {"lr": -1.0}}, "'lr' parameter of ConditionalViewGAN training"),
])
def test_bad_parameters_are_named(small, params, match):
    _, views, mask = small
    with pytest.raises(InvalidParameterError, match=match):
        ConditionalViewGAN(**params).fit(MultiView(views, mask=mask))


def test_bad_input_is_named(small):
    _, views, mask = small
    with pytest.raises(ValueError, match="training has no option 'epoch'"):
        ConditionalViewGAN(training={"epoch": 3}).fit(MultiView(views, mask=mask))
    never = mask.copy()
    never[:, 2] = False
    never[:, 1] = False
    with pytest.raises(ValueError, match="view 'fou' is never observed together"):
        ConditionalViewGAN(training=FAST).fit(MultiView(views, mask=never))
    with pytest.raises(InvalidParameterError, match="'generator' parameter of ViewImputer"):
        ViewImputer("model", generator="diffusion").fit(MultiView(views, mask=mask))


def test_backward_loss_gives_each_player_the_gradient_of_its_own_loss_only():
    data = load_dataset("uci-mfeat").select(["fou", "kar", "mor"])
    data = data.subset(np.arange(0, 2000, 31)[:64])  # every digit class
    views = []
    for a in data.arrays():
        a = a[:, np.argsort(-a.std(axis=0))[:4]]  # four features that vary
        views.append(torch.as_tensor((a - a.mean(0)) / a.std(0), dtype=torch.float32))
    mask = torch.ones(64, 3, dtype=torch.bool)
    mask[::4, 0] = False
    mask[1::5, 2] = False
    torch.manual_seed(0)
    net = ConditionalGANNetwork([4, 4, 4], noise_dim=3, hidden=(8,), reconstruction="l1",
                                weight=3.0, condition_dropout=0.5).train()
    torch.manual_seed(1)
    net.backward_loss(views, mask)
    got = {n: p.grad.clone() for n, p in net.named_parameters()}
    # the same draws, then both losses written out by hand, without any detaching
    torch.manual_seed(1)
    d_loss = g_loss = 0.0
    for j, (rows, keep, noise) in enumerate(net.draws(mask)):
        others = [i for i in range(3) if i != j]
        c = torch.cat([torch.where(keep[:, [i]], views[i], 0.0) for i in others]
                      + [keep[:, others].float()], dim=1)[rows]
        real = views[j][rows]
        fake = net.generators[j](torch.cat([noise[rows], c], dim=1))
        disc = net.discriminators[j]
        d_loss = d_loss + F.softplus(-disc(torch.cat([real, c], 1))).mean() \
            + F.softplus(disc(torch.cat([fake, c], 1))).mean()
        g_loss = g_loss + F.softplus(-disc(torch.cat([fake, c], 1))).mean() \
            + 3.0 * (fake - real).abs().mean()
    d_names = [n for n, _ in net.named_parameters() if n.startswith("discriminators")]
    g_names = [n for n, _ in net.named_parameters() if n.startswith("generators")]
    params = dict(net.named_parameters())
    d_grads = torch.autograd.grad(d_loss, [params[n] for n in d_names], retain_graph=True)
    g_grads = torch.autograd.grad(g_loss, [params[n] for n in g_names], retain_graph=True)
    for n, expected in [*zip(d_names, d_grads), *zip(g_names, g_grads)]:
        torch.testing.assert_close(got[n], expected, rtol=1e-5, atol=1e-7)
    # the check can fail: D's gradient of the sum of both losses is a different one
    mixed = torch.autograd.grad(d_loss + g_loss, [params[d_names[0]]])[0]
    assert not torch.allclose(mixed, got[d_names[0]], atol=1e-4)


class GeneratorAdapter(TransformerMixin, BaseEstimator):
    """Runs the GAN on one matrix, for scikit-learn's estimator checks: the columns of X are
    two views (first half, second half; one column serves as both), and ``transform`` is
    the second view generated from the first (seeded, so repeatable)."""

    def __init__(self, model=None):
        self.model = model

    def _views(self, X):
        half = max(1, X.shape[1] // 2)
        return [X[:, :half], X[:, half:] if X.shape[1] > 1 else X]

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        self.model_ = clone(self.model).fit(self._views(X))
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.model_.generate(self._views(X)[0], from_view=0, to_view=1)


@parametrize_with_checks([GeneratorAdapter(ConditionalViewGAN(
    hidden=16, training={"epochs": 2, "batch_size": 32, "progress": False, "threads": 1}))])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)

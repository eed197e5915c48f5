"""A conditional GAN that synthesizes a view a sample lacks from the views it has (issue 12,
item 3): one generator and one conditional discriminator per view, with pix2pix's
reconstruction term, trained through the one Trainer (the objective: ``gan_network.py``)."""

from __future__ import annotations

import hashlib
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import metadata_routing
from sklearn.utils._param_validation import StrOptions

from jointspace.data.multiview import MultiView
from jointspace.layers import widths
from jointspace.models.checks import numeric_views
from jointspace.models.constraints import FRACTION, NON_NEGATIVE, POSITIVE_INT, SEED
from jointspace.models.deep.gan_network import ConditionalGANNetwork, condition
from jointspace.models.deep.generative import float64_call
from jointspace.models.estimator_saving import SavedEstimator
from jointspace.train.options import TrainedModel, TrainingOptions

#: a feature whose training spread is below this is centred but not scaled
MIN_SCALE = 1e-12
#: rows per forward pass in generate
CHUNK = 4096


class ConditionalViewGAN(TrainedModel, SavedEstimator, BaseEstimator):
    """Conditional GAN over views: generate view j from any subset of the other views.

    For each view j a generator G_j(noise ‖ condition) → x_j and a discriminator
    D_j(x_j ‖ condition) → logit, where the condition is the other views' standardized
    features (missing ones zeroed) and their mask bits. G_j is trained with the
    non-saturating GAN loss plus ``reconstruction_weight`` × the L1 (or L2) distance to the
    real x_j (pix2pix), on the rows that have view j and at least one other view; D_j on the
    same rows with G's samples detached. Condition dropout hides observed conditioning views
    in training, so that any subset of views can condition at query time.

    Args:
        noise_dim: width of the generator's Gaussian noise.
        hidden: hidden widths of the generators and discriminators (an int is one layer).
        reconstruction: "l1" or "l2": the reconstruction term's distance (per standardized
            feature).
        reconstruction_weight: λ, the reconstruction term's weight against the GAN loss
            (0: a pure conditional GAN).
        condition_dropout: in training, the share of rows conditioned on a random subset of
            their observed conditioning views (its size uniform from 1 to their number)
            instead of all of them.
        clip: clip generated features to their range over the training rows (pixels stay in
            [0, 1]).
        standardize: "feature" (each feature by its own spread over the observed training
            rows) or "view" (one spread per view, the root mean square of its features').
        training: changes to the training options, a dict (see
            :class:`~jointspace.train.options.TrainingOptions`); ``val_fraction`` holds rows
            out for early stopping on the generators' squared error; ``input_noise`` is added
            to the conditioning features.
        random_state: seed of the weights and of training.

    Every view is standardized with the mean and spread of its observed training rows (kept
    with the model). What a missing view's slots hold (NaN included) is never read.

    Defaults, measured (1 thread, one seed unless stated; ``benchmarks/bench_gan.py`` has
    the tables). mnist-halves: 4,000 / 1,000 digits, right halves generated from left
    halves, digit class named by an SVC trained on real right halves (0.897 on real ones;
    the VAEs reach 0.843–0.849, target 0.80). uci-mfeat: 1,600 / 400 digits, a view removed
    from every test digit and filled from the other five ("all"), or from one other view
    ("one"); squared error in standardized units relative to the mean fill's, mean over the
    six views (ridge 0.393 / 0.549, VAE 0.384 / 0.506).

    - the defaults ((512, 512), λ 30, L2, condition dropout 0.8, 30 epochs of AdamW at
      1e-3 in batches of 128): mnist 0.827 (seed 1: 0.844), squared error 0.0394, grey
      pixels (in (0.1, 0.9)) 0.240 of all (real halves 0.095); uci-mfeat 0.253 / 0.549.
    - L2 against L1: mnist 0.806 against 0.781 (λ 100, 10 epochs), 0.845 against 0.750
      (λ 10, 30 epochs, one spread per view); uci-mfeat 0.242 / 0.675 against 0.241 /
      0.714 (λ 30, one layer, condition dropout 0.5).
    - λ (mnist, one layer, 30 epochs): 10: 0.824, 30: 0.839, 100: 0.832; at λ 1 or 0
      (the adversarial loss alone) 0.25 and 0.23 after 10 epochs (one spread per view).
      The reconstruction term alone (λ 1e4, the defaults otherwise) gave 0.848 with grey
      share 0.263: the adversarial term sharpens the halves a little but does not name
      more digits.
    - condition dropout (uci-mfeat): none: 0.261 / 0.806 (one layer, 10 epochs); two
      layers, 30 epochs: 0.5: 0.248 / 0.594, 0.8: 0.253 / 0.549.
    - one hidden layer of 512 against two: mnist 0.839 / 0.834 (seeds 0 / 1) against
      0.827 / 0.844; uci-mfeat 0.255 / 0.632 against 0.253 / 0.549; but kar from fou and mor
      alone (3 views, 30 % of kar missing in training) 0.700 against 0.747 (ridge 0.714).
    - ``standardize="view"`` (one spread per view) helped mnist's rare pixels (0.852
      against 0.832, λ 100, one layer) but failed uci-mfeat's mixed-scale views (mor's
      error 7.5 times the mean fill's).
    - 50 epochs against 30 (mnist, λ 30, one layer): 0.841 against 0.839.

    Fitted attributes: ``view_names_``, ``n_views_``, ``n_features_``, ``view_means_`` /
    ``view_scales_`` (the standardization), ``view_mins_`` / ``view_maxs_`` (the clip
    range), ``network_``, ``history_``, ``best_epoch_``.

    Example:
        >>> gan = ConditionalViewGAN().fit(train)
        >>> right = gan.generate(test["left"], from_view="left", to_view="right")   # (m, 392)
    """

    training_defaults: ClassVar[TrainingOptions] = TrainingOptions(
        epochs=30, batch_size=128, lr=1e-3, patience=None)
    _parameter_constraints: ClassVar[dict] = {
        "noise_dim": [POSITIVE_INT],
        "hidden": [POSITIVE_INT, list, tuple],
        "reconstruction": [StrOptions({"l1", "l2"})],
        "reconstruction_weight": [NON_NEGATIVE],
        "condition_dropout": [FRACTION],
        "clip": ["boolean"],
        "standardize": [StrOptions({"feature", "view"})],
        "training": [dict, None],
        "random_state": SEED,
    }
    # the views are the data, not metadata that a meta-estimator would route
    __metadata_request__fit = {"views": metadata_routing.UNUSED}  # noqa: RUF012

    def __init__(self, noise_dim: int = 16, *,
                 hidden: int | list[int] | tuple[int, ...] = (512, 512),
                 reconstruction: str = "l2", reconstruction_weight: float = 30.0,
                 condition_dropout: float = 0.8, clip: bool = True,
                 standardize: str = "feature", training: dict | None = None,
                 random_state: int | None = 0):
        self.noise_dim = noise_dim
        self.hidden = hidden
        self.reconstruction = reconstruction
        self.reconstruction_weight = reconstruction_weight
        self.condition_dropout = condition_dropout
        self.clip = clip
        self.standardize = standardize
        self.training = training
        self.random_state = random_state

    # ------------------------------------------------------------------ input
    def _view_index(self, view: str | int) -> int:
        if isinstance(view, Integral) and not isinstance(view, bool):
            if not 0 <= int(view) < self.n_views_:
                raise ValueError(f"view index {view} is out of range; there are "
                                 f"{self.n_views_} views ({self.view_names_})")
            return int(view)
        if view not in self.view_names_:
            raise ValueError(f"view {view!r} does not exist; views are {self.view_names_}")
        return self.view_names_.index(view)

    def _views(self, views: Any, *, fitting: bool) -> MultiView:
        """The views as a checked numeric MultiView (at query time: the fitted names and
        widths)."""
        fitted = None if fitting else (self.view_names_, self.n_features_)
        return numeric_views(views, fitted, type(self).__name__)

    def _standardized(self, arrays: list[np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
        """Each view standardized, a missing view's slots 0 (never read): (m, d_j) float64."""
        return [np.where(seen[:, None], (np.where(seen[:, None], a, 0.0) - mu) / scale, 0.0)
                for a, seen, mu, scale in zip(arrays, mask.T, self.view_means_,
                                              self.view_scales_)]

    # --------------------------------------------------------------- training
    def fit(self, views: Any, y: Any = None) -> ConditionalViewGAN:
        """Train a generator and a discriminator for every view.

        Args:
            views: MultiView, dict name → (n, d_j) array, or list of (n, d_j) arrays, with
                a mask of observed views (a missing view's slots may hold anything).
            y: ignored.
        Returns:
            self.
        Raises:
            InvalidParameterError: a parameter (or training option) outside its constraints.
            ValueError: views that do not fit: raw items, fewer than 2 samples, a view that
                no sample has together with another view.
        """
        self._validate_params()
        options = self.training_options
        name = type(self).__name__
        mv = self._views(views, fitting=True)
        if mv.n_samples < 2:
            raise ValueError(f"{name} got 1 sample; a minimum of 2 samples is required")
        if len(mv.view_names) < 2:
            raise ValueError(f"{name} needs at least 2 views to generate one from another; "
                             f"got {mv.view_names}")
        mask = mv.mask
        arrays = [np.where(m[:, None], a, 0.0) for a, m in zip(mv.arrays(), mask.T)]
        for j, view in enumerate(mv.view_names):
            others = np.delete(mask, j, axis=1).any(axis=1)
            if not (mask[:, j] & others).any():
                raise ValueError(f"view {view!r} is never observed together with another "
                                 "view; nothing to learn its generator from")
            if np.abs(arrays[j]).max() > 1e150:
                raise ValueError(f"view {view!r} has values up to "
                                 f"{np.abs(arrays[j]).max():.3g}: rescale it")
        self.view_names_ = list(mv.view_names)
        self.n_views_ = len(arrays)
        self.n_features_ = [a.shape[1] for a in arrays]
        self.view_means_ = [a[s].mean(axis=0) for a, s in zip(arrays, mask.T)]
        self.view_scales_ = [a[s].std(axis=0) for a, s in zip(arrays, mask.T)]
        if self.standardize == "view":  # one spread per view: rare features stay small
            self.view_scales_ = [np.full_like(s, np.sqrt(np.mean(s**2)))
                                 for s in self.view_scales_]
        for scale in self.view_scales_:
            scale[scale < MIN_SCALE] = 1.0
        self.view_mins_ = [a[s].min(axis=0) for a, s in zip(arrays, mask.T)]
        self.view_maxs_ = [a[s].max(axis=0) for a, s in zip(arrays, mask.T)]
        inputs = self._standardized(arrays, mask)
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        network = self._build_network(options.input_noise)
        n = len(mask)
        n_val = int(round(options.val_fraction * n))
        order = np.random.default_rng(seed).permutation(n)
        train, val = (order[n_val:], order[:n_val]) if n_val >= 2 else (order, None)
        result = self._trainer().fit(
            network, [a[train] for a in inputs], mask[train],
            None if val is None else [a[val] for a in inputs],
            None if val is None else mask[val])
        self.network_ = network.cpu().eval()
        self.history_, self.best_epoch_ = result.history, result.best_epoch
        return self

    def _build_network(self, input_noise: float = 0.0) -> ConditionalGANNetwork:
        return ConditionalGANNetwork(self.n_features_, int(self.noise_dim), widths(self.hidden),
                                     self.reconstruction, float(self.reconstruction_weight),
                                     float(self.condition_dropout), input_noise)

    # -------------------------------------------------------------- inference
    def generate(self, X: Any, *, to_view: str | int, from_view: str | int | None = None,
                 random_state: int | None = 0) -> np.ndarray:
        """Synthesize view ``to_view`` from other views (cross-modal generation, or filling
        a view samples lack).

        Args:
            X: with ``from_view``: that view's (m, d_from) rows; without it: views in the
                form of ``fit`` (MultiView with a mask, dict or list), whose observed views
                other than ``to_view`` condition the generator.
            to_view, from_view: view names (or indices).
            random_state: seed of the generator's noise. A row's noise is drawn from this
                seed and the row's condition, so a row's output depends on neither its batch
                nor its position; None draws fresh noise.
        Returns:
            (m, d_to) float64 array in the view's original units (clipped to its training
            range when ``clip``).
        Raises:
            ValueError: an unknown view, ``from_view`` equal to ``to_view``, or a sample
                with no view besides ``to_view`` (names its rows).
        """
        self._check_fitted()
        j = self._view_index(to_view)
        if from_view is not None:
            i = self._view_index(from_view)
            if i == j:
                raise ValueError(f"from_view and to_view are both {self.view_names_[j]!r}; "
                                 "generate a view from another one")
            rows = np.asarray(X)
            if rows.ndim != 2 or rows.shape[1] != self.n_features_[i]:
                raise ValueError(f"X has shape {rows.shape}; expected (m, "
                                 f"{self.n_features_[i]}) rows of view "
                                 f"{self.view_names_[i]!r}")
            views = {v: (rows if k == i else np.zeros((len(rows), d)))
                     for k, (v, d) in enumerate(zip(self.view_names_, self.n_features_))}
            mask = np.zeros((len(rows), self.n_views_), dtype=bool)
            mask[:, i] = True
            X = MultiView(views, mask=mask)
        mv = self._views(X, fitting=False)
        mask = mv.mask.copy()
        mask[:, j] = False
        empty = np.flatnonzero(~mask.any(axis=1))
        if len(empty):
            raise ValueError(f"samples {empty[:5].tolist()} (ids {mv.ids[empty[:5]].tolist()}) "
                             f"have no view besides {self.view_names_[j]!r} to generate it "
                             "from")
        inputs = [torch.as_tensor(a) for a in self._standardized(mv.arrays(), mask)]
        cond = condition(inputs, torch.as_tensor(mask), j)
        noise = torch.as_tensor(self._noise(cond.numpy(), random_state))
        out = [float64_call(self.network_.generators[j],
                            torch.cat([noise[s : s + CHUNK], cond[s : s + CHUNK]], dim=1)).numpy()
               for s in range(0, len(cond), CHUNK)]
        result = np.concatenate(out) * self.view_scales_[j] + self.view_means_[j]
        if self.clip:
            result = np.clip(result, self.view_mins_[j], self.view_maxs_[j])
        return result

    def _noise(self, cond: np.ndarray, random_state: int | None) -> np.ndarray:
        """(m, noise_dim) standard normal noise, each row's drawn from the seed and the
        row's condition (its float64 bytes)."""
        if random_state is None:
            return np.random.default_rng().standard_normal((len(cond), int(self.noise_dim)))
        out = np.empty((len(cond), int(self.noise_dim)))
        for r, row in enumerate(np.ascontiguousarray(cond, dtype=np.float64)):
            key = int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little")
            out[r] = np.random.default_rng([int(random_state), key]).standard_normal(out.shape[1])
        return out

    # ------------------------------------------------------------------ saving
    def _fitted_state(self) -> dict[str, Any]:
        """The fitted attributes, the networks' weights as arrays (what :meth:`save` keeps:
        the weights and the standardization)."""
        state = {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}
        network = state.pop("network_")
        state["network_state_"] = {k: v.detach().cpu().numpy()
                                   for k, v in network.state_dict().items()}
        return state

    def _restore(self, fitted: dict[str, Any]) -> None:
        """Set the fitted attributes a save recorded, checked against each other."""
        weights = fitted.pop("network_state_")
        expected = {"view_names_", "n_views_", "n_features_", "view_means_", "view_scales_",
                    "view_mins_", "view_maxs_", "history_", "best_epoch_"}
        if set(fitted) != expected:
            raise ValueError(f"the state holds {sorted(fitted)}; expected {sorted(expected)}")
        for key, value in fitted.items():
            setattr(self, key, value)
        names, dims = list(self.view_names_), [int(d) for d in self.n_features_]
        if len(dims) != len(names) or self.n_views_ != len(names) or len(names) < 2:
            raise ValueError("view_names_, n_views_ and n_features_ disagree")
        for what in ("view_means_", "view_scales_", "view_mins_", "view_maxs_"):
            values = getattr(self, what)
            if (not isinstance(values, list) or len(values) != len(names)
                    or any(v.shape != (d,) for v, d in zip(values, dims))
                    or any(not np.isfinite(v).all() for v in values)):
                raise ValueError(f"{what} does not hold one finite (d,) array per view")
        if any((s <= 0).any() for s in self.view_scales_):
            raise ValueError("view_scales_ holds values a standardization cannot use")
        network = self._build_network()
        network.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
        self.network_ = network.eval()


#: class name → class: the only classes :meth:`ConditionalViewGAN.load` instantiates
GENERATORS: dict[str, type] = {"ConditionalViewGAN": ConditionalViewGAN}
ConditionalViewGAN._saved_classes = GENERATORS

"""Fusion modules (jointspace.fusion): every module under every subset of observed views, the
missing views' values never read (bit-identical output when they change, NaN included), no
gradient into a missing view's branch, a small fit, the masking helpers against loops."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
import torch

from jointspace.fusion import (
    FUSIONS,
    AttentionFusion,
    HierarchicalFusion,
    balanced_tree,
    make_fusion,
    masked_mean,
    masked_softmax,
)

NAMES = sorted(FUSIONS)
DIMS = {"a": 5, "b": 3, "c": 4}  # b is a sequence view (tokens) in the batches below
SMALL = {
    "early": {"hidden": 16},
    "late": {"hidden": 8},
    "hierarchical": {"width": 16, "hidden": 16},
    "hybrid": {"early_hidden": 16, "late_hidden": 8},
    "self-attention": {"embed_dim": 16, "heads": 2},
    "cross-attention": {"embed_dim": 16, "heads": 2},
    "co-attention": {"embed_dim": 16, "heads": 2, "layers": 2},
    "gated": {"width": 16},
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small modules: one thread is faster than two on a shared machine (no contention)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small(name: str, dims: dict[str, int] = DIMS, out_dim: int = 2, **options):
    torch.manual_seed(0)
    return make_fusion(name, dims, out_dim, **{**SMALL[name], **options})


def batch(dims: dict[str, int], m: int = 6, seed: int = 0):
    """Views (b, when present, as 3 tokens with the last one padded in odd rows) and token masks."""
    g = torch.Generator().manual_seed(seed)
    views, token_mask = {}, {}
    for name, d in dims.items():
        if name == "b":
            views[name] = torch.randn(m, 3, d, generator=g)
            token_mask[name] = torch.ones(m, 3, dtype=torch.bool)
            token_mask[name][1::2, 2] = False
        else:
            views[name] = torch.randn(m, d, generator=g)
    return views, token_mask


def subsets(n: int):
    return [s for k in range(1, n + 1) for s in itertools.combinations(range(n), k)]


def masks(n: int, m: int = 6):
    """A mask per non-empty subset (every row observes it), then one mixing all subsets."""
    out = []
    for s in subsets(n):
        mask = torch.zeros(m, n, dtype=torch.bool)
        mask[:, list(s)] = True
        out.append(mask)
    mixed = torch.tensor([[bool(k >> j & 1) for j in range(n)] for k in range(1, 2**n)])
    out.append(mixed)
    return out


def spoiled(views, token_mask, mask, fill):
    """The views with every missing value (missing view, padded token) replaced by ``fill``."""
    out = {}
    for j, (name, x) in enumerate(views.items()):
        rows = mask[:, j]
        keep = rows[:, None, None] if x.dim() == 3 else rows[:, None]
        if name in token_mask:
            keep = keep & token_mask[name][:, :, None]
        out[name] = torch.where(keep, x, torch.full_like(x, fill))
    return out


def check_every_subset(module, dims):
    """Every subset of observed views (and a mix of all in one batch), in training and in
    inference: shape, finite, and bit-identical whatever the missing values are."""
    for training in (True, False):
        module.train(training)
        for mask in masks(len(dims)):
            views, token_mask = batch(dims, m=len(mask))
            with torch.set_grad_enabled(training):
                out = module(views, mask, token_mask)
                assert out.shape == (len(mask), 2) and torch.isfinite(out).all(), mask
                for fill in (float("nan"), float("inf"), -1e6):
                    again = module(spoiled(views, token_mask, mask, fill), mask, token_mask)
                    assert torch.equal(out, again), (mask, fill)
                # a view no row observes may be left out (then it is one token, not three:
                # sums over keys may be ordered differently, hence not bit-identical)
                absent = [v for j, v in enumerate(dims) if not mask[:, j].any()]
                given = {v: x for v, x in views.items() if v not in absent}
                torch.testing.assert_close(out, module(given, mask, token_mask))


@pytest.mark.parametrize("n_views", [1, 2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_every_subset_is_defined_and_never_reads_a_missing_view(name, n_views):
    dims = dict(list(DIMS.items())[:n_views])
    check_every_subset(small(name, dims), dims)


@pytest.mark.parametrize(
    "name, options",
    [("early", {"mask_bits": False, "hidden": ()}), ("late", {"combine": "weighted"}),
     ("hybrid", {"combine": "mean"}), ("gated", {"gate": "sigmoid"}),
     ("hierarchical", {"tree": ["c", ["b", "a"]]}),
     ("cross-attention", {"layers": 2}), ("self-attention", {"layers": 2})],
)
def test_options_keep_missing_views_out(name, options):
    check_every_subset(small(name, **options), DIMS)


def test_numpy_and_float64_inputs():
    module = small("gated")
    views, token_mask = batch(DIMS)
    mask = masks(3)[-1][:6]
    expected = module(views, mask, token_mask)
    got = module({k: x.double().numpy() for k, x in views.items()}, mask.numpy(),
                 {k: t.numpy() for k, t in token_mask.items()})
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("name", NAMES)
def test_rows_do_not_see_each_other(name):
    """Each row's output is its own: the mixed batch equals the rows fused one at a time."""
    module = small(name).eval()
    mask = masks(3)[-1]
    views, token_mask = batch(DIMS, m=len(mask))
    together = module(views, mask, token_mask)
    for i in range(len(mask)):
        alone = module({k: x[i : i + 1] for k, x in views.items()}, mask[i : i + 1],
                       {k: t[i : i + 1] for k, t in token_mask.items()})
        torch.testing.assert_close(alone[0], together[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_rows_without_an_observed_view_are_named(name):
    module = small(name)
    views, _ = batch(DIMS)
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[[1, 4]] = False
    with pytest.raises(ValueError, match=r"no observed view: 1, 4"):
        module(views, mask)


def test_bad_inputs_are_named():
    module = small("late")
    views, _ = batch(DIMS)
    mask = torch.ones(6, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="unknown views"):
        module({**views, "d": views["a"]}, mask)
    with pytest.raises(ValueError, match="mask has shape"):
        module(views, mask[:, :2])
    with pytest.raises(ValueError, match="mask must be bool"):
        module(views, mask.float())
    with pytest.raises(ValueError, match="view 'a' has shape"):
        module({**views, "a": views["a"][:, :4]}, mask)
    with pytest.raises(ValueError, match="'c' is observed in some rows but not given"):
        module({"a": views["a"], "b": views["b"]}, mask)
    nan = views["a"].clone()
    nan[2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"'a' has non-finite values in observed rows 2"):
        module({**views, "a": nan}, mask)
    no_token = torch.ones(6, 3, dtype=torch.bool)
    no_token[3] = False
    with pytest.raises(ValueError, match=r"'b' is observed but has no token in rows 3"):
        module(views, mask, {"b": no_token})
    # integer 0/1 masks are accepted as bool
    assert torch.equal(module(views, mask.long()), module(views, mask))


#: per module, the parameters of view b's branch: name → slice of the parameter (None: all)
B_COLUMNS = slice(5, 8)  # b's features in a concatenation of a (5), b (3), c (4)
B_BRANCH = {
    "early": {"mlp.0.weight": (slice(None), B_COLUMNS)},
    "late": {"heads.1.": None, "view_logits": (1,)},
    "hybrid": {"late.heads.1.": None, "branch_logits": (2,),
               "early.mlp.0.weight": (slice(None), B_COLUMNS)},
    "hierarchical": {"leaves.1.": None, "nodes.0.": None},  # node 0 pairs (a, b)
    "gated": {"projections.1.": None, "gates.weight": (slice(None), B_COLUMNS),
              "gates.bias": (slice(16, 32),)},  # b's gate logits
    "self-attention": {"inputs.1.": None, "within.1.": None, "view_embedding": (1,)},
    # pairs[t·2 + k]: targets a, b, c with sources (b, c), (a, c), (a, b)
    "cross-attention": {"inputs.1.": None, "view_embedding": (1,), "pairs.0.": None,
                        "pairs.2.": None, "pairs.3.": None, "pairs.5.": None},
    "co-attention": {"inputs.1.": None, "view_embedding": (1,), "co.1.": None, "own.1.": None},
}
#: a parameter of view a's branch, which must get a gradient
A_BRANCH = {
    "early": "mlp.0.weight",
    "late": "heads.0.0.weight",
    "hybrid": "late.heads.0.0.weight",
    "hierarchical": "leaves.0.0.weight",
    "gated": "projections.0.weight",
    "self-attention": "within.0.0.ffn.0.weight",
    "cross-attention": "pairs.1.0.ffn.0.weight",  # target a, source c
    "co-attention": "co.0.1.ffn.0.weight",
}


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_only_observed_branches(name):
    module = small(name, combine="weighted") if name == "late" else small(name)
    views, token_mask = batch(DIMS)
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[:, 1] = False  # b missing everywhere
    mask[0, 2] = False  # c missing in a row
    out = module(spoiled(views, token_mask, mask, float("nan")), mask, token_mask)
    out.square().sum().backward()
    params = dict(module.named_parameters())
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in params.values())
    for prefix, part in B_BRANCH[name].items():
        hit = [k for k in params if k == prefix or k.startswith(prefix)]
        assert hit, prefix
        for k in hit:
            grad = params[k].grad
            if grad is None:
                continue
            grad = grad if part is None else grad[part]
            assert torch.count_nonzero(grad) == 0, k
    assert torch.count_nonzero(params[A_BRANCH[name]].grad) > 0


def synthetic(n: int = 192, seed: int = 0):
    """A target s carried by a (linearly) and b (its tokens' mean), never by c (noise). Every
    row observes a or b; a third of the rows observe only b."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, 1, generator=g)
    a = s @ torch.randn(1, 5, generator=g) + 0.1 * torch.randn(n, 5, generator=g)
    b = (s @ torch.randn(1, 3, generator=g))[:, None, :] + 0.1 * torch.randn(n, 3, 3, generator=g)
    c = torch.randn(n, 4, generator=g)
    kind = torch.arange(n) % 3  # 0: a only, 1: b only, 2: both
    mask = torch.stack([kind != 1, kind != 0, torch.rand(n, generator=g) < 0.5], dim=1)
    views = {"a": a, "b": b, "c": c}
    return spoiled(views, {}, mask, float("nan")), mask, s, kind


@pytest.mark.parametrize("name", NAMES)
def test_each_module_fits_a_target_some_views_carry(name):
    views, mask, s, kind = synthetic()
    module = small(name, out_dim=1, **({"layers": 1} if name == "co-attention" else {}))
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = (module(views, mask) - s).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        err = (module(views, mask) - s).square()[:, 0]
    assert err.mean() < 0.1 * min(s.var(), losses[0]), (losses[0], err.mean())
    assert err[kind == 1].mean() < 0.1 * s.var(), "b alone should recover the target"


def loop_softmax(scores, mask, dim):
    out = torch.zeros_like(scores)
    s, m, o = scores.movedim(dim, -1), mask.movedim(dim, -1), out.movedim(dim, -1)
    for idx in itertools.product(*map(range, s.shape[:-1])):
        keep = m[idx]
        if keep.any():
            o[idx][keep] = torch.softmax(s[idx][keep], dim=0)
    return out


def loop_mean(x, mask, dim):
    xs, ms = x.movedim(dim, 0), mask.movedim(dim, 0)
    out = torch.zeros_like(xs[0])
    for idx in itertools.product(*map(range, xs.shape[1:])):
        vals = [xs[(k, *idx)] for k in range(len(xs)) if ms[(k, *idx[: ms.dim() - 1])]]
        out[idx] = sum(vals) / len(vals) if vals else 0.0
    return out


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_masked_softmax_matches_a_loop(dim):
    g = torch.Generator().manual_seed(dim)
    scores = torch.randn(4, 5, 3, generator=g)
    mask = torch.rand(4, 5, 3, generator=g) < 0.5
    mask.movedim(dim, -1)[0, 0] = False  # one slice with nothing observed
    expected = loop_softmax(scores, mask, dim)
    torch.testing.assert_close(masked_softmax(scores, mask, dim=dim), expected)
    hostile = scores.masked_fill(~mask, float("nan"))
    hostile.requires_grad_(True)
    got = masked_softmax(hostile, mask, dim=dim)
    assert torch.equal(got, masked_softmax(scores, mask, dim=dim))
    (got * torch.randn(got.shape, generator=g)).sum().backward()
    assert torch.isfinite(hostile.grad).all() and not hostile.grad[~mask].any()


@pytest.mark.parametrize("dim", [0, 1])
def test_masked_mean_matches_a_loop(dim):
    g = torch.Generator().manual_seed(dim)
    x = torch.randn(4, 5, 3, generator=g)
    mask = torch.rand(4, 5, generator=g) < 0.5
    mask[0, :] = False
    mask[:, 0] = False
    expected = loop_mean(x, mask, dim)
    torch.testing.assert_close(masked_mean(x, mask, dim=dim), expected)
    hostile = x.masked_fill(~mask[:, :, None], float("nan"))
    assert torch.equal(masked_mean(hostile, mask, dim=dim), masked_mean(x, mask, dim=dim))


@pytest.mark.parametrize("name", NAMES)
def test_config_rebuilds_the_module(name):
    module = small(name).eval()
    config = module.get_config()
    assert config["name"] == name
    twin = make_fusion(**config).eval()
    twin.load_state_dict(module.state_dict())
    views, token_mask = batch(DIMS)
    mask = masks(3)[-1]
    views, token_mask = batch(DIMS, m=len(mask))
    assert torch.equal(module(views, mask, token_mask), twin(views, mask, token_mask))


def test_factory_and_option_errors():
    with pytest.raises(ValueError, match="fusion 'nope'"):
        make_fusion("nope", DIMS, 2)
    with pytest.raises(ValueError, match="fixes mode"):
        make_fusion("co-attention", DIMS, 2, mode="self")
    with pytest.raises(ValueError, match="mode="):
        AttentionFusion(DIMS, 2, mode="other")
    with pytest.raises(ValueError, match="divisible"):
        AttentionFusion(DIMS, 2, embed_dim=10, heads=3)
    with pytest.raises(ValueError, match="combine="):
        make_fusion("late", DIMS, 2, combine="max")
    with pytest.raises(ValueError, match="gate="):
        make_fusion("gated", DIMS, 2, gate="relu")
    with pytest.raises(ValueError, match="activation="):
        make_fusion("hierarchical", DIMS, 2, activation="nope")
    with pytest.raises(ValueError, match="dims"):
        make_fusion("early", {}, 2)
    with pytest.raises(ValueError, match="out_dim"):
        make_fusion("early", DIMS, 0)


def test_hierarchical_trees():
    assert balanced_tree(["a", "b", "c"]) == [["a", "b"], "c"]
    assert balanced_tree(list("abcde")) == [[["a", "b"], ["c", "d"]], "e"]
    module = HierarchicalFusion(DIMS, 2, tree=("c", ("b", "a")), width=8, hidden=8)
    assert module.get_config()["tree"] == ["c", ["b", "a"]] and len(module.nodes) == 2
    for bad in (("a", "b"), ("a", ("b", "b")), ("a", "b", "c"), ("a", ("b", "x"))):
        with pytest.raises(ValueError, match="tree"):
            HierarchicalFusion(DIMS, 2, tree=bad)


def test_a_pair_with_one_view_missing_passes_the_other():
    module = HierarchicalFusion({"a": 2, "b": 2}, 3, width=4, hidden=4)
    x = {"a": torch.randn(5, 2), "b": torch.randn(5, 2)}
    only_a = torch.tensor([[True, False]] * 5)
    leaf = module.leaves[0](x["a"])
    torch.testing.assert_close(module(x, only_a), module.head(leaf))


def test_fusion_imports_only_torch_numpy_and_the_shared_layers():
    allowed = ("torch", "numpy", "jointspace.fusion", "jointspace.layers")
    root = Path(__file__).resolve().parents[1] / "src" / "jointspace" / "fusion"
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module] if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name == "__future__" or name.split(".")[0] in ("collections", "typing",
                                                                   "abc", "dataclasses"):
                    continue
                assert name.startswith(allowed), f"{path.name} imports {name}"

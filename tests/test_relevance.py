"""Relevance protocols (caption, instance, label) and the instance ceiling of identical captions:
hand-made cases with known figures, brute-force references, the bench's default protocol."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.datasets import load_digits

from jointspace.bench.harness import run_bench
from jointspace.bench.report import MethodRun, write_report
from jointspace.data import MultiView
from jointspace.metrics import (
    RELEVANCE,
    caption_groups,
    cross_modal_retrieval,
    instance_ceiling,
    instance_ceiling_ranks,
    normalize_caption,
    retrieval_metrics,
)
from jointspace.metrics.evaluation import (
    caption_view,
    default_relevance,
    evaluate_embeddings,
    relevance_ids,
)

# Five image–caption rows: three different images share one caption (up to case and spaces).
CAPTIONS = ["Stars, magick", "stars,  MAGICK ", "stars, magick", "a cat", "a dog"]
# a perfect model (dot similarity): each caption embeds as its normalized caption's axis; the
# three star images lie on the star axis at different lengths, so a star caption ranks them
# A > B > C, and every image ranks the three identical star captions equal (a tie)
IMAGES = np.array([[3.0, 0, 0], [2.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
TEXTS = np.array([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])


# ------------------------------------------------------------------ caption ids
def test_normalize_caption_ignores_case_and_whitespace():
    assert normalize_caption("  Stars,\t MAGICK\n") == "stars, magick"
    assert normalize_caption("a  b") == normalize_caption("A b") != normalize_caption("ab")


def test_caption_groups_first_appearance_codes():
    ids = caption_groups(CAPTIONS)
    assert ids.dtype == np.int64 and ids.tolist() == [0, 0, 0, 1, 2]
    assert caption_groups(["b", "a", "B ", "c"]).tolist() == [0, 1, 0, 2]
    assert caption_groups(("x",)).tolist() == [0]
    for bad in ([], "a caption", [1, 2]):
        with pytest.raises(ValueError, match="non-empty sequence of strings"):
            caption_groups(bad)
    with pytest.raises(ValueError, match="groups has shape"):
        caption_groups(["a", "b"], groups=[0, 1, 2])


def test_caption_groups_join_instance_groups_transitively():
    # rows 0, 1: one image under captions x and y; row 2: another image captioned y
    texts = ["x", "y", "Y", "z", "z", "w"]
    groups = ["img1", "img1", "img2", "img3", "img4", "img3"]
    assert caption_groups(texts, groups).tolist() == [0, 0, 0, 1, 1, 1]
    assert caption_groups(texts, np.arange(6)).tolist() == caption_groups(texts).tolist()


# ------------------------------------------------------------- hand-made perfect model
def test_identical_captions_perfect_under_caption_not_instance():
    cap = caption_groups(CAPTIONS)
    names = ("image", "text")
    by_caption = cross_modal_retrieval(
        IMAGES, TEXTS, groups_a=cap, groups_b=cap, names=names, metric="dot"
    )
    by_instance = cross_modal_retrieval(IMAGES, TEXTS, names=names, metric="dot")
    for direction in ("image→text", "text→image"):
        assert by_caption[direction]["R@1"] == 100.0 and by_caption[direction]["MedR"] == 1
        assert by_caption[direction]["mAP"] == 1.0
    # image→text: the three star captions tie; two of them are someone else's → rank 3
    assert by_instance["image→text"]["R@1"] == 40.0 and by_instance["image→text"]["MeanR"] == 2.2
    # text→image: the star captions share one ranking A > B > C → ranks 1, 2, 3
    assert by_instance["text→image"]["R@1"] == 60.0 and by_instance["text→image"]["MeanR"] == 1.6
    # ... which is exactly the ceiling: this perfect model reaches it in both directions
    groups = np.arange(5)
    for direction, side in (("image→text", "gallery"), ("text→image", "query")):
        ceiling = instance_ceiling(groups, cap, side=side)
        assert ceiling == {k: by_instance[direction][k] for k in ceiling}
    assert instance_ceiling_ranks(groups, cap, side="query").tolist() == [1, 2, 3, 1, 1]
    assert instance_ceiling_ranks(groups, cap, side="gallery").tolist() == [3, 3, 3, 1, 1]


def test_tied_perfect_model_stays_below_the_ceiling():
    """Star images embedded alike: caption relevance is still perfect, instance R@1 is lower
    than the ceiling (the tie counts against each star caption)."""
    cap = caption_groups(CAPTIONS)
    tied = TEXTS.copy()
    got = retrieval_metrics(TEXTS, tied, query_groups=cap, gallery_groups=cap)
    assert got["R@1"] == 100.0
    inst = retrieval_metrics(TEXTS, tied)
    assert inst["R@1"] == 40.0 < instance_ceiling(np.arange(5), cap, side="query")["R@1"]


# ------------------------------------------------------------------ brute-force ceiling
def _brute_query_side(groups: list, twins: list) -> tuple[dict[int, int], int, list]:
    """Queries of one twin class share a ranking: try every gallery order (strict; ties only
    hurt). Returns max hits@K summed over classes for each K, min sum of ranks, and per class
    the rank multisets that are achievable."""
    n = len(groups)
    best_hits = {k: 0 for k in range(1, n + 1)}
    best_sum = 0
    achievable = []
    for c in sorted(set(twins)):
        queries = [i for i in range(n) if twins[i] == c]
        hits = {k: 0 for k in range(1, n + 1)}
        low, multisets = None, set()
        for order in itertools.permutations(range(n)):
            ranks = [
                next(p for p, j in enumerate(order, 1) if groups[j] == groups[q]) for q in queries
            ]
            for k in hits:
                hits[k] = max(hits[k], sum(r <= k for r in ranks))
            low = sum(ranks) if low is None else min(low, sum(ranks))
            multisets.add(tuple(sorted(ranks)))
        for k in hits:
            best_hits[k] += hits[k]
        best_sum += low
        achievable.append((queries, multisets))
    return best_hits, best_sum, achievable


def _brute_gallery_side(groups: list, twins: list) -> list[int]:
    """Each query alone: every score assignment to the twin blocks (ties allowed), rank by the
    pessimistic rule; the best rank per query."""
    n = len(groups)
    blocks = sorted(set(twins))
    best = []
    for q in range(n):
        low = n
        for scores in itertools.product(range(len(blocks)), repeat=len(blocks)):
            s = [scores[blocks.index(twins[j])] for j in range(n)]
            top = max(s[j] for j in range(n) if groups[j] == groups[q])
            low = min(low, 1 + sum(s[j] >= top and groups[j] != groups[q] for j in range(n)))
        best.append(low)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_ceiling_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 7))
    groups = rng.integers(0, 4, n).tolist()
    twins = rng.integers(0, 3, n).tolist()
    ranks = instance_ceiling_ranks(groups, twins, side="query")
    best_hits, best_sum, achievable = _brute_query_side(groups, twins)
    assert {k: int(np.sum(ranks <= k)) for k in best_hits} == best_hits
    assert int(ranks.sum()) == best_sum
    for queries, multisets in achievable:  # one real ranking gives all these ranks at once
        assert tuple(sorted(ranks[queries].tolist())) in multisets
    assert instance_ceiling_ranks(groups, twins, side="gallery").tolist() == _brute_gallery_side(
        groups, twins
    )
    got = instance_ceiling(groups, twins, side="query", ks=(1, 2))
    assert got["R@1"] == pytest.approx(100 * best_hits[1] / n)
    assert got["MeanR"] == pytest.approx(best_sum / n)
    assert got["MedR"] == float(np.median(ranks))


def test_ceiling_without_twins_is_perfect_and_checks_input():
    groups = [5, 5, 7, 8]
    for side in ("query", "gallery"):
        assert instance_ceiling_ranks(groups, [0, 1, 2, 3], side=side).tolist() == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="side="):
        instance_ceiling_ranks(groups, [0, 1, 2, 3], side="both")
    with pytest.raises(ValueError, match="twins has shape"):
        instance_ceiling_ranks(groups, [0, 1], side="query")
    with pytest.raises(ValueError, match="ks="):
        instance_ceiling(groups, [0, 1, 2, 3], side="query", ks=())


# ------------------------------------------------------------------ the bench's protocol
def test_default_protocol_and_relevance_ids(tmp_path):
    paths = []
    for i in range(5):
        paths.append(str(tmp_path / f"{i}.png"))
        (tmp_path / f"{i}.png").write_bytes(b"not really a png")
    labels = np.array([0, 0, 0, 1, 1])
    raw = MultiView({"image": paths, "text": CAPTIONS}, labels=labels)
    assert caption_view(raw) == "text" and default_relevance(raw) == "caption"
    assert caption_view(raw, ["image"]) is None and default_relevance(raw, ["image"]) == "instance"
    assert relevance_ids(raw).tolist() == [0, 0, 0, 1, 2]
    assert relevance_ids(raw, "instance").tolist() == [0, 1, 2, 3, 4]
    assert relevance_ids(raw, "label").tolist() == labels.tolist()
    numeric = MultiView({"image": IMAGES, "text": TEXTS})
    assert default_relevance(numeric) == "instance"
    with pytest.raises(ValueError, match="needs a view of captions"):
        relevance_ids(numeric, "caption")
    with pytest.raises(ValueError, match="needs labelled test rows"):
        relevance_ids(numeric, "label")
    with pytest.raises(ValueError, match="expected one of"):
        relevance_ids(raw, "image")
    assert set(RELEVANCE) == {"caption", "instance", "label"}


def test_evaluate_embeddings_reports_both_protocols():
    raw = MultiView({"image": IMAGES, "text": CAPTIONS})
    Z = [IMAGES + [0, 0.1, 0], TEXTS]  # under cosine, ranks as the model above
    numeric = MultiView({"image": IMAGES, "text": TEXTS})
    m = evaluate_embeddings(["image", "text"], Z, numeric, raw_rows=raw)
    assert m["relevance"] == "caption"
    assert set(m["retrieval"]) == set(m["retrieval_instance"]) == set(m["instance_ceiling"])
    for direction in ("image→text", "text→image"):
        assert m["retrieval"][direction]["R@1"] == 100.0
        ceiling = m["instance_ceiling"][direction]  # this perfect model reaches the ceiling
        assert ceiling == {k: m["retrieval_instance"][direction][k] for k in ceiling}
    assert m["instance_ceiling"]["image→text"]["R@1"] == 40.0
    assert m["instance_ceiling"]["text→image"]["R@1"] == 60.0
    inst = evaluate_embeddings(["image", "text"], Z, numeric, raw_rows=raw, relevance="instance")
    assert inst["relevance"] == "instance" and "retrieval_instance" not in inst
    assert inst["retrieval"] == m["retrieval_instance"]
    assert inst["instance_ceiling"] == m["instance_ceiling"]
    plain = evaluate_embeddings(["image", "text"], Z, numeric)  # no captions: instance only
    assert plain["relevance"] == "instance" and "instance_ceiling" not in plain
    with pytest.raises(ValueError, match="raw_rows has 4 rows"):
        evaluate_embeddings(["image", "text"], Z, numeric, raw_rows=raw.subset(np.arange(4)))


WORDS = "zero one two three four five six seven eight nine".split()


@pytest.fixture(scope="module")
def digits_with_captions():
    """sklearn's 8×8 digits as images with a caption naming the digit (case and spacing
    varied, so identical captions must be found by normalization)."""
    d = load_digits()
    rng = np.random.default_rng(0)
    texts = [
        (f"A  handwritten {WORDS[y]}" if rng.random() < 0.5 else f"a handwritten {WORDS[y]}")
        for y in d.target
    ]
    return MultiView({"image": d.data, "text": texts}, labels=d.target, meta={"name": "digits"})


def test_run_bench_defaults_to_caption_relevance(digits_with_captions):
    kwargs = {"n_components": 5, "reg": 0.1, "encoders": {"text": "tfidf"}, "test_size": 0.2}
    (res,) = run_bench(digits_with_captions, ["cca"], **kwargs)
    m, rows = res.metrics, res.test_rows
    assert m["relevance"] == "caption" and rows["text"][0].startswith(("a", "A"))
    n = rows.n_samples
    # ten captions, one per digit: the ceilings follow from the class sizes alone
    sizes = np.bincount(rows.labels)
    ceiling = m["instance_ceiling"]
    assert ceiling["text→image"]["R@1"] == pytest.approx(100 * 10 / n)
    assert ceiling["image→text"]["MeanR"] == pytest.approx(np.sum(sizes**2) / n)
    assert ceiling["image→text"]["R@10"] == 0.0 < ceiling["text→image"]["R@10"]
    for direction, scores in m["retrieval"].items():
        assert scores["R@1"] > m["retrieval_instance"][direction]["R@1"]
    # here a caption names the class: caption relevance is label relevance
    (by_label,) = run_bench(digits_with_captions, ["cca"], relevance="label", **kwargs)
    assert by_label.metrics["relevance"] == "label"
    assert by_label.metrics["retrieval"] == m["retrieval"]
    (inst,) = run_bench(digits_with_captions, ["cca"], relevance="instance", **kwargs)
    assert inst.metrics["retrieval"] == m["retrieval_instance"]
    with pytest.raises(ValueError, match="relevance='caption' needs a view of captions"):
        run_bench(digits_with_captions, ["cca"], relevance="caption", views=["image"], **kwargs)


def test_report_names_protocol_and_shows_instance_table(tmp_path):
    raw = MultiView({"image": IMAGES, "text": CAPTIONS})
    numeric = MultiView({"image": IMAGES, "text": TEXTS})
    Z = [IMAGES + [0, 0.1, 0], TEXTS]
    metrics = evaluate_embeddings(["image", "text"], Z, numeric, raw_rows=raw)
    run = MethodRun("perfect", metrics, (Z[0], Z[1]), 0.1)
    path = write_report(
        tmp_path,
        [run],
        dataset="stars",
        view_names=("image", "text"),
        groups=relevance_ids(raw),
        relevance="caption",
        max_map_points=5,
    )
    text = path.read_text(encoding="utf-8")
    assert "Relevance: caption (same caption" in text and "### Instance relevance" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| perfect | 0.10 | 100.0 |")  # caption protocol: perfect
    assert rows[-2].startswith("| perfect | 40.0 |") and rows[-1].startswith("| ceiling | 40.0 |")
    with pytest.raises(ValueError, match="relevance='same'"):
        write_report(tmp_path, [run], dataset="s", view_names=("image", "text"), relevance="same")


def test_regrouped_sets_training_positives_by_protocol(tmp_path):
    from jointspace.metrics.evaluation import regrouped

    paths = []
    for name in ("a", "b", "c"):
        paths.append(str(tmp_path / f"{name}.png"))
        (tmp_path / f"{name}.png").write_bytes(b"")
    rows = MultiView({"image": paths, "text": ["a cat", "A  cat", "a dog"]}, labels=[0, 0, 1])
    assert regrouped(rows).groups.tolist() == [0, 1, 2]  # default: each image its own
    assert regrouped(rows, "caption").groups.tolist() == [0, 0, 1]
    assert regrouped(rows, "label").groups.tolist() == [0, 0, 1]
    assert regrouped(rows, "caption")["text"] == rows["text"]

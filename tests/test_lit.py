"""LiT (locked image, tuned text): the ``minilm-tokens`` encoder and the dual encoder's
``"minilm"`` text tower, which fine-tunes the top layers of the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

from jointspace.data.openclipart import DEFAULT_ROOT, load_openclipart
from jointspace.encoders import make_encoder
from jointspace.encoders.sentence import load_sentence_transformer, minilm_dir
from jointspace.models import ContrastiveDualEncoder
from jointspace.models.deep.minilm import MiniLMTower, load_minilm_bert, split_tokens
from jointspace.train.trainer import parameter_groups

needs_data = pytest.mark.skipif(
    not Path(DEFAULT_ROOT).is_dir(), reason="Debian openclipart-svg is not installed"
)
MAX_LENGTH = 32
CAPTIONS = [
    "a red apple",
    "Baby-Tux. Made with Sodipodi. keywords: penguin, tux, linux",
    "oh",
    "Architetto Francesco Rollandin. keywords: architetto francesco rollandin",
    "a cup of coffee on a saucer, with a spoon and a very long description that goes on "
    "and on past the token limit of this encoder so that it must be truncated somewhere",
]


@pytest.fixture(scope="module")
def pairs():
    """64 real OpenClipArt pairs (the first SVGs, rendered at 64 px in the usual cache):
    (color-histogram image features (64, 48), minilm-tokens rows (64, 64), captions)."""
    if not Path(DEFAULT_ROOT).is_dir():
        pytest.skip("Debian openclipart-svg is not installed")
    mv = load_openclipart(size=64, n_jobs=2, limit=80)
    mv = mv.subset(np.arange(64))
    images = make_encoder("color-hist").fit_transform(mv["image"])
    tokens = make_encoder("minilm-tokens", max_length=MAX_LENGTH).fit_transform(mv["text"])
    return images, tokens, list(mv["text"])


def _model(**params) -> ContrastiveDualEncoder:
    options = {"kind": "minilm", "train_layers": 2, "max_batch_tokens": 1024}
    defaults = dict(
        n_components=32,
        tower=["linear", options],
        training={"epochs": 3, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.0,
                  "progress": False},
    )
    return ContrastiveDualEncoder(**{**defaults, **params})


@pytest.fixture(scope="module")
def fitted(pairs):
    images, tokens, _ = pairs
    return _model().fit([images, tokens])


# ------------------------------------------------------------------ the tokens encoder
def test_tokens_round_trip_and_padding_masked():
    X = make_encoder(f"minilm-tokens:max_length={MAX_LENGTH}").fit_transform(CAPTIONS)
    assert X.shape == (len(CAPTIONS), 2 * MAX_LENGTH) and X.dtype == np.float32
    ids, mask = (t.numpy() for t in split_tokens(torch.as_tensor(X)))
    reference = load_sentence_transformer(minilm_dir()).tokenizer  # the HF tokenizer object
    for text, row, m in zip(CAPTIONS, ids, mask):
        n = int(m.sum())
        assert (m[:n] == 1).all() and (m[n:] == 0).all()  # mask: the text, then padding
        assert (row[n:] == 0).all()  # [PAD] after the text
        expected = reference(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        assert row[:n].tolist() == expected
        decoded = reference.decode(row[:n].tolist(), skip_special_tokens=True)
        if n < MAX_LENGTH:  # whole captions decode back to the (lower-cased) text
            assert decoded.replace(" ", "") == text.lower().replace(" ", "")
    # the long caption is truncated to max_length tokens, still ending in [SEP] (102)
    assert int(mask[-1].sum()) == MAX_LENGTH and ids[-1, 0] == 101 and ids[-1, -1] == 102
    truncated = reference.decode(ids[-1].tolist(), skip_special_tokens=True)
    assert CAPTIONS[-1].lower().startswith(truncated.replace(" ,", ","))


def test_tokens_encoder_rejects_bad_input():
    with pytest.raises(ValueError, match="single string"):
        make_encoder("minilm-tokens").transform("a caption")
    with pytest.raises(ValueError, match="max_length"):
        make_encoder("minilm-tokens", max_length=1).transform(["x"])


# ------------------------------------------------------------------ the tower
def test_sentence_vectors_equal_sentence_transformers():
    """Before training, the tower's pooled vector is the packaged model's embedding."""
    X = make_encoder("minilm-tokens", max_length=64).fit_transform(CAPTIONS[:4])
    tower = MiniLMTower(X.shape[1], 8, train_layers=2).eval()
    with torch.no_grad():
        vectors = tower.sentence_vectors(torch.as_tensor(X)).numpy()
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    reference = load_sentence_transformer(minilm_dir()).encode(CAPTIONS[:4])
    np.testing.assert_allclose(vectors, reference, atol=1e-5)
    with torch.no_grad():  # one row at a time: the same (length groups do not matter)
        alone = torch.cat([tower.sentence_vectors(torch.as_tensor(X[i : i + 1])) for i in range(4)])
    alone = alone.numpy() / np.linalg.norm(alone.numpy(), axis=1, keepdims=True)
    np.testing.assert_allclose(alone, reference, atol=1e-5)


def test_tower_checks_and_learning_rate_groups():
    with pytest.raises(ValueError, match="2·max_length"):
        MiniLMTower(63, 8)
    with pytest.raises(ValueError, match="train_layers"):
        MiniLMTower(64, 8, train_layers=7)
    tower = MiniLMTower(64, 8, train_layers=1, lr_scale=0.25)
    trainable = {n for n, p in tower.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("bert.encoder.layer.5.", "head.")) for n in trainable)
    groups = {g["lr_scale"]: {id(p) for p in g["params"]} for g in parameter_groups(tower)}
    assert set(groups) == {1.0, 0.25}
    assert groups[1.0] == {id(p) for p in tower.head.parameters()}
    assert {id(p) for p in tower.bert.encoder.layer[5].parameters()} <= groups[0.25]


def test_token_views_are_never_standardized_nor_noised():
    """A tower declaring ``feature_input = False`` gets its input exactly as given."""

    class Recorder(nn.Module):
        feature_input = False

        def __init__(self):
            super().__init__()
            self.seen: list[torch.Tensor] = []
            self.linear = nn.Linear(4, 4)

        def forward(self, x):  # noqa: ANN001, ANN201
            self.seen.append(x.detach().clone())
            return self.linear(x)

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 50, size=(40, 4)).astype(np.float32)
    recorder = Recorder()
    model = ContrastiveDualEncoder(
        4,
        tower=["mlp", recorder],
        hidden=(8,),
        training={"epochs": 2, "batch_size": 20, "input_noise": 0.5, "progress": False},
    ).fit([rng.normal(size=(40, 6)), codes])
    assert model.input_means_[0].shape == (6,) and model.input_means_[1].size == 0
    values = torch.cat(recorder.seen)
    assert torch.equal(values, values.round()) and values.min() >= 0 and values.max() < 50
    recorder.seen.clear()
    model.transform_view(1, codes)
    np.testing.assert_array_equal(recorder.seen[0].numpy(), codes)


@needs_data
def test_only_the_top_layers_and_projection_change(pairs, fitted):
    tower = fitted.network_.view_encoder(1)
    before = load_minilm_bert().state_dict()
    after = tower.bert.state_dict()
    tuned = ("encoder.layer.4.", "encoder.layer.5.")
    for name, value in before.items():
        if name.startswith(tuned):
            continue
        assert torch.equal(after[name], value), name  # bit-identical
    changed = [n for n, v in before.items() if n.startswith(tuned) and not torch.equal(after[n], v)]
    assert len(changed) > 20  # (almost) every weight of the two tuned layers moved
    assert fitted.input_means_[1].size == 0 and fitted.input_means_[0].shape == (48,)


@needs_data
def test_tuned_tower_learns(fitted):
    losses = [row["loss"] for row in fitted.history_]
    assert losses[-1] < losses[0] - 0.1, losses


@needs_data
def test_save_load_identical_transform(pairs, fitted, tmp_path):
    _, tokens, _ = pairs
    fitted.save(tmp_path / "lit")
    loaded = ContrastiveDualEncoder.load(tmp_path / "lit")
    assert loaded.get_params()["tower"] == fitted.get_params()["tower"]
    assert clone(fitted).get_params()["tower"][1] == fitted.tower[1]
    np.testing.assert_array_equal(
        loaded.transform_view("view1", tokens[:20]), fitted.transform_view("view1", tokens[:20])
    )
    Z = fitted.transform_view(1, tokens[:20])
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-12)
    # a row's embedding does not depend on the rows it is encoded with (float64 inference)
    np.testing.assert_allclose(fitted.transform_view(1, tokens[3:4]), Z[3:4], atol=1e-12)


@pytest.mark.slow
@needs_data
def test_fine_tuning_beats_the_frozen_transformer_on_training_pairs(pairs):
    """Same projection and budget: tuning the top layers (at lr × 0.1) fits the pairs
    better than training only the projection over the frozen transformer."""
    images, tokens, _ = pairs
    six = {"epochs": 6, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.0, "progress": False}
    frozen = _model(tower=["linear", {"kind": "minilm", "train_layers": 0}], training=six)
    tuned = _model(tower=["linear", {"kind": "minilm", "train_layers": 2}], training=six)
    losses = [m.fit([images, tokens]).history_[-1]["loss"] for m in (frozen, tuned)]
    assert losses[1] < losses[0], losses

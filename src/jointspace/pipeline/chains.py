"""Encoder chains: a view's encoders applied in turn, and the defaults a user gets when naming
no encoder or model."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from jointspace.data.multiview import MultiView
from jointspace.encoders.base import Encoder, make_encoder
from jointspace.encoders.cache import encode_cached

#: separates the steps of an encoder chain written as one string: "hog+color-hist>standardize"
CHAIN_SEP = ">"

ChainSpec = str | Encoder | Sequence[str | Encoder] | None


def make_chain(view: str, spec: ChainSpec) -> list[Encoder]:
    """An (unfitted) encoder chain for ``view`` from its spec: a string (steps separated by
    ">"), an Encoder (cloned), a list of those, or None / "" (a numeric view used as it is).

    Raises:
        ValueError: an unknown encoder or a malformed spec (names the view).
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return []
    if isinstance(spec, str):
        steps: list[Any] = [s.strip() for s in spec.split(CHAIN_SEP)]
    elif isinstance(spec, Encoder):
        steps = [spec]
    elif isinstance(spec, Sequence):
        steps = list(spec)
    else:
        raise ValueError(
            f"encoders[{view!r}] is a {type(spec).__name__}; expected an encoder spec such as "
            "'minilm' or 'hog+color-hist', an Encoder, or a list of them"
        )
    chain = []
    for step in steps:
        if isinstance(step, Encoder):
            from sklearn.base import clone

            chain.append(clone(step))
        elif isinstance(step, str) and step:
            chain.append(make_encoder(step))
        else:
            raise ValueError(f"encoders[{view!r}] has an empty or invalid step {step!r}")
    return chain


def run_chain(
    chain: Sequence[Encoder], items: Any, cache_dir: str | os.PathLike | None, fitting: bool
) -> Any:
    """Pass n items through an encoder chain: (n, d) float32 features (the items themselves
    for an empty chain). With ``fitting`` each step is fitted on its input first; with a
    ``cache_dir`` each step's features are read from / written to the feature cache."""
    for encoder in chain:
        if fitting:
            encoder.fit(items)
        items = encode_cached(encoder, items, cache_dir)
    return items


#: the encoder of a raw view when none is named, by view name (the measured best)
DEFAULT_ENCODERS = {
    "text": "minilm",
    "image": "efficientnet+hog+color-hist",
    "audio": "mfcc",
    "video": "video-frames:size=16",
}


def default_encoders(
    data: MultiView, views: Sequence[str], given: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """Encoder specs for ``views`` of ``data``: those ``given``, else for a raw view its
    :data:`DEFAULT_ENCODERS` entry, else None (a numeric view used as it is).

    Raises:
        ValueError: an encoder for a view not among ``views``, or a raw view without one.
    """
    given = dict(given or {})
    unknown = sorted(set(given) - set(views))
    if unknown:
        raise ValueError(f"encoder given for view {unknown[0]!r}; the views are {list(views)}")
    chains: dict[str, str | None] = {}
    for name in views:
        spec = given.get(name)
        if spec is None and not data.is_numeric(name):
            spec = DEFAULT_ENCODERS.get(name)
            if spec is None:
                raise ValueError(
                    f"view {name!r} holds raw items; name an encoder for it "
                    f"(e.g. --encoders {name}=...)"
                )
        chains[name] = spec
    return chains


def default_model(data: MultiView) -> tuple[str, dict[str, Any]]:
    """The model a user gets when naming none, as (spec, default parameters that the user's
    own options override): the dual encoder for raw image–caption data (its settings measured
    best on OpenClipArt, see the README), and with a temporal tower for video–caption data
    (measured on moving-mnist-captions) or its audio tower for audio–caption data (measured
    on openclipart-speech); for text with two or more other media, the N-tower dual encoder
    bound to the text (measured on openclipart-speech's three views); CCA otherwise."""
    raw = {v for v in data.view_names if not data.is_numeric(v)}
    if "text" in raw and len((raw - {"text"}) & set(MEDIA_TOWERS)) >= 2:  # media bound to text
        towers = [MEDIA_TOWERS.get(v, "mlp") for v in data.view_names]
        return "dual-encoder", {**MULTI_VIEW_DEFAULTS, "tower": towers}
    if {"image", "text"} <= raw:
        return "dual-encoder", dict(IMAGE_TEXT_DEFAULTS)
    if {"video", "text"} <= raw:  # a temporal tower on the clips' frames
        towers = [VIDEO_TOWER if v == "video" else "linear"
                  for v in data.view_names if v in ("video", "text")]
        return "dual-encoder", {**VIDEO_TEXT_DEFAULTS, "tower": towers}
    if {"audio", "text"} <= raw:  # spoken clips and their words (openclipart-speech)
        towers = [AUDIO_TOWER if v == "audio" else "linear"
                  for v in data.view_names if v in ("audio", "text")]
        return "dual-encoder", {**AUDIO_TEXT_DEFAULTS, "tower": towers}
    return "cca", {}


#: the dual encoder's settings for image–caption data (the README's OpenClipArt table)
IMAGE_TEXT_DEFAULTS = {"loss": "infonce", "n_components": 512, "hidden": (2048,)}
#: the video tower and the dual encoder's settings for video–caption data (the README's
#: moving-mnist-captions table: the temporal convolution led R@1 and direction accuracy)
VIDEO_TOWER = {"kind": "temporal", "frames": 20, "pool": "conv"}
VIDEO_TEXT_DEFAULTS = {"n_components": 128, "epochs": 60, "batch_size": 256}
#: the audio tower and the dual encoder's settings for audio–caption data (the README's
#: openclipart-speech table, benchmarks/bench_audio.py)
AUDIO_TOWER = "mlp"
AUDIO_TEXT_DEFAULTS = {"n_components": 128, "epochs": 30, "batch_size": 256}
#: each media view's tower, and the N-tower dual encoder's settings for text with several
#: media (the README's three-modality table, benchmarks/bench_three_views.py)
MEDIA_TOWERS: dict[str, Any] = {"image": "mlp", "audio": AUDIO_TOWER, "video": VIDEO_TOWER,
                                "text": "linear"}
MULTI_VIEW_DEFAULTS = {"n_components": 128, "epochs": 30, "batch_size": 256, "anchor": "text"}


def spec_of(encoder: Encoder) -> str:
    """An encoder's spec for people: ``"hog+color-hist"`` for a concatenation, else its name."""
    spec = getattr(encoder, "spec", None)
    return spec() if callable(spec) else encoder.name

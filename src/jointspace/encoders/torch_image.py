"""Image encoder ``torch:<path>``: a user's TorchScript or torch.export model from a local file.

Inputs as for every image encoder (see :mod:`jointspace.encoders.image`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders.base import Encoder, register
from jointspace.encoders.image import Size, iter_images, parse_size, resize_image
from jointspace.encoders.loading import cached_model, path_fingerprint


def _load_torch_model(path: str) -> Any:
    """A TorchScript file (``torch.jit.save``) or a ``torch.export`` program (``.pt2``),
    in eval mode on CPU. Never ``torch.load`` of a pickle."""
    import torch

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"image encoder 'torch': model file {path!r} does not exist")
    try:
        if p.suffix == ".pt2":
            return torch.export.load(str(p)).module()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*deprecated")
            model = torch.jit.load(str(p), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise ValueError(
            f"image encoder 'torch' could not load {path!r} as TorchScript (torch.jit.save) "
            f"or torch.export (.pt2): {exc}"
        ) from exc
    return model.eval()


@register("torch")
class TorchImageEncoder(Encoder):
    """A user's torch image model loaded from a local file (spec ``torch:<path>``).

    The file is TorchScript (``torch.jit.save(torch.jit.script(net), path)``) or, with the
    suffix ``.pt2``, a ``torch.export.save`` program; never a pickle. The model receives a
    float32 tensor (batch, 3, H, W) in [0, 1] (images resized to ``size``) and its output
    is flattened per image.

    Args:
        path: the model file.
        size: input side (int) or (height, width).
        batch_size: images per forward pass.
        mean, std: optional per-channel normalization ``(x - mean) / std`` applied first
            (e.g. ImageNet's (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)).

    ``transform`` returns (n, d) float32, d the size of the flattened output of one image.
    """

    runtime_params = ("batch_size",)

    def __init__(
        self,
        path: str = "",
        size: Size = 224,
        batch_size: int = 32,
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
    ) -> None:
        self.path = path
        self.size = size
        self.batch_size = batch_size
        self.mean = mean
        self.std = std

    def _model(self) -> Any:
        return cached_model("torch-image", self.state_fingerprint(), self._load)

    def _load(self) -> Any:
        return _load_torch_model(self.path)

    def transform(self, X: Any) -> np.ndarray:
        """(n, d) float32 flattened model outputs."""
        import torch

        model = self._model()
        hw = parse_size(self.size, self.name)
        spec = f"torch:{self.path}"
        mean = None if self.mean is None else torch.tensor(self.mean).view(1, 3, 1, 1)
        std = None if self.std is None else torch.tensor(self.std).view(1, 3, 1, 1)
        outs: list[np.ndarray] = []
        batch: list[np.ndarray] = []

        def flush() -> None:
            x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div_(255.0)
            if mean is not None:
                x = x - mean
            if std is not None:
                x = x / std
            with torch.inference_mode():
                y = model(x)
            if not isinstance(y, torch.Tensor):
                raise ValueError(f"image encoder {spec!r} returned {type(y).__name__}; a tensor")
            outs.append(y.reshape(len(batch), -1).float().numpy())
            batch.clear()

        for img in iter_images(X, spec):
            batch.append(np.asarray(resize_image(img, hw), dtype=np.uint8))
            if len(batch) >= int(self.batch_size):
                flush()
        if batch:
            flush()
        if not outs:
            raise ValueError(f"image encoder {spec!r} got 0 images; expected at least 1")
        return np.concatenate(outs).astype(np.float32, copy=False)

    def state_fingerprint(self) -> str:
        """sha256 of the model file (re-read when it changes)."""
        if not Path(self.path).expanduser().is_file():
            raise FileNotFoundError(
                f"image encoder 'torch': model file {self.path!r} does not exist"
            )
        return path_fingerprint(self.path)

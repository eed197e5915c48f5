"""Per-modality featurizers ("encoders"): raw items → float32 arrays (n, d).

Every encoder is a scikit-learn transformer with a registry name::

    from jointspace.encoders import make_encoder, CachedEncoder

    text = make_encoder("minilm", backend="onnx")        # (n, 384)
    X = text.fit_transform(["a red apple", "a yellow bus"])
    hog = make_encoder("hog", size=64)                    # image paths or (n, H, W, 3) arrays
    cnn = make_encoder("torch:/models/cnn.pt", size=96)   # a TorchScript file
    cached = CachedEncoder(hog, "~/.cache/jointspace")    # features stored per item on disk

Names (:data:`ENCODERS`): ``tfidf``, ``minilm``, ``hf:<path>``, ``minilm-tokens`` (token
ids + mask for the dual encoder's fine-tuned ``minilm`` tower) (text); ``pixels``, ``hog``,
``color-hist``, ``efficientnet`` (pretrained EfficientNet-Lite0, 1,280-d), ``torch:<path>``
(image); ``mfcc`` (audio); ``standardize`` (tabular);
``a+b`` concatenates encoders (``concat``); ``onnx-minilm``, ``onnx-efficientnet``
(the exported ONNX models an exported pipeline holds, see ``jointspace export``).
"""

from jointspace.encoders.audio import MfccEncoder
from jointspace.encoders.base import (
    ENCODERS,
    Encoder,
    encoder_from_config,
    load_encoder,
    make_encoder,
    register,
    save_encoder,
)
from jointspace.encoders.cache import CachedEncoder, encode_cached
from jointspace.encoders.concat import ConcatEncoder
from jointspace.encoders.efficientnet import EfficientNetEncoder
from jointspace.encoders.image import ColorHistEncoder, HogEncoder, PixelEncoder
from jointspace.encoders.onnx_files import OnnxEfficientNetEncoder, OnnxMiniLMEncoder
from jointspace.encoders.sentence import (
    MiniLMEncoder,
    MiniLMTokenEncoder,
    SentenceTransformerEncoder,
)
from jointspace.encoders.tabular import StandardizeEncoder
from jointspace.encoders.text import TfidfEncoder
from jointspace.encoders.torch_image import TorchImageEncoder
from jointspace.encoders.video import VideoFramesEncoder

__all__ = [
    "ENCODERS",
    "CachedEncoder",
    "ColorHistEncoder",
    "ConcatEncoder",
    "EfficientNetEncoder",
    "Encoder",
    "HogEncoder",
    "MfccEncoder",
    "MiniLMEncoder",
    "MiniLMTokenEncoder",
    "OnnxEfficientNetEncoder",
    "OnnxMiniLMEncoder",
    "PixelEncoder",
    "SentenceTransformerEncoder",
    "StandardizeEncoder",
    "TfidfEncoder",
    "TorchImageEncoder",
    "VideoFramesEncoder",
    "encode_cached",
    "encoder_from_config",
    "load_encoder",
    "make_encoder",
    "register",
    "save_encoder",
]

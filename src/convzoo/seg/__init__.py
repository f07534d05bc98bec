"""Segmentation over any convzoo encoder (issue 16): decoders that take the
maps of `get_model(name, features_only=True)`, segmentation data and training.
It sits beside `keras`, above `factory` (it builds encoders by name) and below
`tasks`.

    import convzoo as cz
    model = cz.seg.get_seg_model("efficientnet_lite0", num_classes=3, encoder_weights="DEFAULT")
    logits = model(images)                      # (N, 3, H, W)

Training lives in tasks/train/seg.py (`cz.train_segmentation`, `convzoo seg-train`). For
segmentation_models_pytorch's decoders instead of ours, `seg.smp_adapter`
registers every model as an smp encoder (imported on demand: smp is the
optional `[seg]` extra).
"""
from .decoders import FPNDecoder, UNetDecoder
from .model import SegmentationModel, get_seg_model

__all__ = ["FPNDecoder", "SegmentationModel", "UNetDecoder", "get_seg_model"]

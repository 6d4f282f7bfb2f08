"""Metrics: offline evaluators (NumPy in, NumPy out) and streaming `keras.metrics` for `fit`.

- `pck.py`: `pck`, `pckh` (MPII), `pck_curve`, `auc`, `head_size_from_box`.
- `mpjpe.py`: `mpjpe`, `pa_mpjpe` (similarity Procrustes), `rigid_aligned_mpjpe`
  (the authors' rotation + translation variant), their aligners, `root_relative`.
- `coco.py`: `oks`, `oks_nms`, `rescore`, `coco_keypoint_ap` (pycocotools).
- `streaming.py`: `PCK`, `MPJPE` as `keras.metrics.Metric`s.

Example:

>>> import numpy as np
>>> from keras_integral import metrics
>>> gt = np.zeros((1, 16, 2))
>>> float(metrics.pckh(gt + 1.0, gt, [10.0], np.ones((1, 16)))["mean"])
100.0
"""

from keras_integral.metrics.coco import coco_keypoint_ap, oks, oks_nms, rescore
from keras_integral.metrics.mpjpe import (
    mpjpe,
    pa_mpjpe,
    rigid_align,
    rigid_aligned_mpjpe,
    root_relative,
    similarity_align,
)
from keras_integral.metrics.pck import (
    MPII_SC_BIAS,
    MPII_SUMMARY_EXCLUDE,
    auc,
    head_size_from_box,
    joint_mask,
    pck,
    pck_curve,
    pckh,
)
from keras_integral.metrics.streaming import MPJPE, PCK

__all__ = [
    "MPII_SC_BIAS",
    "MPII_SUMMARY_EXCLUDE",
    "MPJPE",
    "PCK",
    "auc",
    "coco_keypoint_ap",
    "head_size_from_box",
    "joint_mask",
    "mpjpe",
    "oks",
    "oks_nms",
    "pa_mpjpe",
    "pck",
    "pck_curve",
    "pckh",
    "rescore",
    "rigid_align",
    "rigid_aligned_mpjpe",
    "root_relative",
    "similarity_align",
]

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

from keras_integral.metrics.coco import coco_keypoint_ap
from keras_integral.metrics.coco import oks
from keras_integral.metrics.coco import oks_nms
from keras_integral.metrics.coco import rescore
from keras_integral.metrics.mpjpe import mpjpe
from keras_integral.metrics.mpjpe import pa_mpjpe
from keras_integral.metrics.mpjpe import rigid_align
from keras_integral.metrics.mpjpe import rigid_aligned_mpjpe
from keras_integral.metrics.mpjpe import root_relative
from keras_integral.metrics.mpjpe import similarity_align
from keras_integral.metrics.pck import MPII_SC_BIAS
from keras_integral.metrics.pck import MPII_SUMMARY_EXCLUDE
from keras_integral.metrics.pck import auc
from keras_integral.metrics.pck import head_size_from_box
from keras_integral.metrics.pck import joint_mask
from keras_integral.metrics.pck import pck
from keras_integral.metrics.pck import pck_curve
from keras_integral.metrics.pck import pckh
from keras_integral.metrics.streaming import MPJPE
from keras_integral.metrics.streaming import PCK

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

"""Streaming keypoint metrics for `model.fit` / `model.evaluate`: `PCK` and `MPJPE`.

Attach them to the `keypoints` output; `y_true` and `y_pred` are keypoints
`(batch, joints, 2|3)` in input-crop pixels (and millimetres for `z`), and
`sample_weight` the targets' per-coordinate weights `(batch, joints, 2|3)`
(or per-joint `(batch, joints)`). Keras hands `sample_weight` only to
`compile(weighted_metrics=...)`; under `metrics=` it is `None` and every joint
counts. Both metrics pool over every counted joint
of every batch since the last reset, so they equal the offline `pck` and a
joint-count-weighted mean of `mpjpe`. Only `keras.ops` is used: they run
under `tf.function` and `jit_compile=True`.

Example:

>>> import numpy as np
>>> metric = PCK(input_size=(256, 192), threshold=0.05)   # within 12.8 px
>>> y_true = np.zeros((1, 2, 2), "float32")
>>> y_pred = np.array([[[3.0, 4.0], [30.0, 40.0]]], "float32")
>>> metric.update_state(y_true, y_pred)
>>> float(metric.result())
0.5
"""

import keras
from keras import ops


def _counted_joints(sample_weight, coordinates, error):
    """0/1 like `error` `(batch, joints)`: joints whose weights on the used coordinates are all > 0."""
    if sample_weight is None:
        return ops.ones_like(error)
    sample_weight = ops.convert_to_tensor(sample_weight)
    if len(sample_weight.shape) == 3:
        return ops.cast(ops.all(sample_weight[..., :coordinates] > 0, axis=-1), error.dtype)
    if len(sample_weight.shape) == 2:
        return ops.cast(sample_weight > 0, error.dtype)
    raise ValueError(
        f"sample_weight must be per-coordinate (batch, joints, dims) or per-joint (batch, joints), "
        f"got shape {sample_weight.shape}."
    )


def _check_keypoints(y_true, y_pred, coordinates, name):
    if len(y_pred.shape) != 3 or y_pred.shape[-1] is None or y_pred.shape[-1] < coordinates:
        raise ValueError(
            f"{name}: y_pred must be keypoints (batch, joints, dims) with dims >= {coordinates}, got {y_pred.shape}."
        )
    if tuple(y_true.shape[1:]) != tuple(y_pred.shape[1:]):
        raise ValueError(f"{name}: y_true {y_true.shape} and y_pred {y_pred.shape} must have the same shape.")


@keras.saving.register_keras_serializable(package="keras_integral")
class PCK(keras.metrics.Metric):
    """Fraction of counted joints whose 2D error is within `threshold * max(h, w)` of the crop.

    The normaliser is the longer side of the input crop, one length for both
    axes, so distances stay Euclidean on non-square crops. It equals the
    offline `pck(pred, gt, normalizer=max(h, w), weights, threshold)` / 100.

    Args:
        input_size: `(h, w)` of the input crop in pixels.
        threshold: fraction of `max(h, w)`; 0.05 is 12.8 px at 256x256.
        name: metric name in logs.
        dtype: dtype of the state variables.

    Call arguments (`update_state`):
        y_true: `(batch, joints, 2|3)` keypoints, crop pixels; `z` ignored.
        y_pred: `(batch, joints, 2|3)` keypoints, crop pixels.
        sample_weight: `(batch, joints, 2|3)` per-coordinate weights (a
            joint counts where its x and y weights are > 0), `(batch, joints)`,
            or `None` (every joint counts).

    Returns (`result`):
        scalar in [0, 1] (0 before any joint was counted).

    Example:

    >>> model.compile(optimizer="adam", loss=...,
    ...               weighted_metrics={"keypoints": [PCK((256, 256)), MPJPE()]})  # doctest: +SKIP
    """

    def __init__(self, input_size, threshold=0.05, name="pck", dtype=None):
        super().__init__(name=name, dtype=dtype)
        input_size = tuple(input_size)
        if len(input_size) != 2 or not all(s > 0 for s in input_size):
            raise ValueError(f"input_size must be (h, w) with positive sizes, got {input_size!r}.")
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0 (a fraction of the crop size), got {threshold!r}.")
        self.input_size = input_size
        self.threshold = float(threshold)
        self.correct = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="correct")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true, self.dtype)
        y_pred = ops.convert_to_tensor(y_pred, self.dtype)
        _check_keypoints(y_true, y_pred, 2, self.name)
        error = ops.sqrt(ops.sum(ops.square(y_pred[..., :2] - y_true[..., :2]), axis=-1))
        counted = _counted_joints(sample_weight, 2, error)
        within = ops.cast(error <= self.threshold * max(self.input_size), self.dtype)
        self.correct.assign_add(ops.sum(within * counted))
        self.count.assign_add(ops.sum(counted))

    def result(self):
        return ops.divide_no_nan(self.correct, self.count)

    def get_config(self):
        return {**super().get_config(), "input_size": self.input_size, "threshold": self.threshold}


@keras.saving.register_keras_serializable(package="keras_integral")
class MPJPE(keras.metrics.Metric):
    """Mean Euclidean joint error over counted joints, after scaling each coordinate.

    The model gives `x, y` in crop pixels and `z` in millimetres;
    `coordinate_scale` converts them to one unit before the distance (e.g.
    mm per pixel for x and y, 1 for z). It equals the joint-count-weighted
    mean of the offline `mpjpe(pred * scale, gt * scale, weights)`.

    Args:
        coordinate_scale: one factor per coordinate, multiplying `x, y[, z]`;
            its length is the number of coordinates the inputs must have.
        name: metric name in logs.
        dtype: dtype of the state variables.

    Call arguments (`update_state`):
        y_true: `(batch, joints, dims)` keypoints, `dims = len(coordinate_scale)`.
        y_pred: `(batch, joints, dims)` keypoints.
        sample_weight: `(batch, joints, dims)` per-coordinate weights (a
            joint counts where all are > 0, so 2D-only samples with `z`
            weight 0 are left out), `(batch, joints)`, or `None`.

    Returns (`result`):
        scalar mean error in the scaled units (0 before any joint was counted).

    Example:

    >>> metric = MPJPE(coordinate_scale=(1.0, 1.0, 1.0))
    >>> metric.update_state([[[0.0, 0.0, 0.0]]], [[[2.0, 3.0, 6.0]]])
    >>> float(metric.result())
    7.0
    """

    def __init__(self, coordinate_scale=(1.0, 1.0, 1.0), name="mpjpe", dtype=None):
        super().__init__(name=name, dtype=dtype)
        coordinate_scale = tuple(float(s) for s in coordinate_scale)
        if len(coordinate_scale) not in (2, 3):
            raise ValueError(f"coordinate_scale must have 2 or 3 factors (x, y[, z]), got {coordinate_scale!r}.")
        self.coordinate_scale = coordinate_scale
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true, self.dtype)
        y_pred = ops.convert_to_tensor(y_pred, self.dtype)
        dims = len(self.coordinate_scale)
        if y_pred.shape[-1] != dims:
            raise ValueError(
                f"{self.name}: keypoints have shape {y_pred.shape} but coordinate_scale has {dims} factors."
            )
        _check_keypoints(y_true, y_pred, dims, self.name)
        scale = ops.convert_to_tensor(self.coordinate_scale, self.dtype)
        error = ops.sqrt(ops.sum(ops.square((y_pred - y_true) * scale), axis=-1))
        counted = _counted_joints(sample_weight, dims, error)
        self.total.assign_add(ops.sum(error * counted))
        self.count.assign_add(ops.sum(counted))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def get_config(self):
        return {**super().get_config(), "coordinate_scale": self.coordinate_scale}

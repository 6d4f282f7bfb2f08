"""PoseLoss: which loss a method trains with in each phase, on which of the model's outputs.

The routing, top to bottom (the method's row in `keras_integral.methods`):

    targets y = {"keypoints": (b, k, 2|3) crop pixels (z mm), "weights": same shape}
      joint loss (R1, I*, I1-I3 phase 2): L1/L2 on crop fractions   codec.normalise
      heat-map loss (H1-H3, I1-I3 phase 1): targets from the keypoints
        in heat-map cells (codec.encode) -> maps (targets.py) -> losses.py
        - 2D, or 3D strategy 1: on the maps / volume
        - 3D two-step (strategy 2): on the x, y, z marginals, each weighted
          by its own coordinate's weight (a 2D sample's z weight is 0)
    summed over the supervised stages (hourglass stacks, multi-stage models)

Every loss is `losses.py`'s; this module only decides which, where and with
which targets.
"""

from keras import ops

from keras_integral import losses
from keras_integral import targets

H3_RADIUS_INPUT_PX = 15.0  # the paper's H3 positive radius, in input pixels


def _gaussian_marginal(centres, size):
    return targets.gaussian_maps(centres, (size,), normalize=True)


def _onehot_marginal(centres, size):
    return targets.onehot_maps(centres, (size,))


# Two-step 3D: the target distribution of one marginal for each heat-map loss. H3 is 2D only.
_MARGINAL_TARGETS = {"H1": _gaussian_marginal, "H2": _onehot_marginal}


class PoseLoss:
    """The loss of one method for one batch, in the phase the model is in.

    Args:
        method: a `keras_integral.methods.Method`.
        codec: the model's `KeypointCodec`.
        joint_loss: `"l1"` (the paper's) or `"l2"`.
        two_step: 3D with the two-step integral (heat-map losses on the marginals).
    """

    def __init__(self, method, codec, joint_loss="l1", two_step=False):
        self.method = method
        self.codec = codec
        self.two_step = two_step
        self._joint_loss = losses.JointLoss(joint_loss)

    def __call__(self, y, y_pred, phase):
        """The total loss: `y` the targets dict, `y_pred` the model's outputs, `phase` 1 or 2."""
        if not isinstance(y, dict) or "keypoints" not in y or "weights" not in y:
            raise ValueError(
                "IntegralPoseModel expects targets {'keypoints': (batch, joints, dims), "
                f"'weights': (batch, joints, dims)}}, received {type(y).__name__}: {y!r:.200}."
            )
        true, weights = ops.cast(y["keypoints"], "float32"), ops.cast(y["weights"], "float32")
        dims = self.codec.dims
        if true.shape[-1] != dims or weights.shape[-1] != dims:
            raise ValueError(
                f"This {dims}D model expects keypoints and weights with {dims} coordinates, "
                f"received {tuple(true.shape)} and {tuple(weights.shape)}."
            )
        active = self.method.losses(phase)
        total = 0.0
        for prefix in stage_prefixes(y_pred):
            if "joint" in active:
                total += self._joint_loss(
                    self.codec.normalise(true), self.codec.normalise(y_pred[prefix + "keypoints"]), weights
                )
            if "heatmap" in active:
                total += self._heatmap_loss(true, weights, y_pred, prefix)
        return total

    def _heatmap_loss(self, true, weights, y_pred, prefix):
        kind = self.method.heatmap_loss
        cells = self.codec.encode(true)
        if self.codec.depth_bins and self.two_step:
            return self._marginal_loss(kind, cells, weights, y_pred, prefix)
        maps = ops.cast(y_pred[prefix + "heatmaps"], "float32")
        shape = tuple(maps.shape[1:-1])
        joint_weight = ops.min(weights, axis=-1)  # a joint counts only where every coordinate is labelled
        if kind == "H1":
            return losses.HeatmapMSE()(targets.gaussian_maps(cells, shape), maps, joint_weight)
        if kind == "H2":
            joint_weight = joint_weight * ops.cast(targets.in_map(cells, shape), "float32")
            return losses.HeatmapSoftmaxCE()(targets.onehot_maps(cells, shape), maps, joint_weight)
        radius = H3_RADIUS_INPUT_PX * self.codec.heatmap_size[1] / self.codec.input_size[1]
        return losses.HeatmapBCE()(targets.disk_maps(cells, shape, radius), maps, joint_weight)

    def _marginal_loss(self, kind, cells, weights, y_pred, prefix):
        # Strategy 2: each marginal is supervised by its own coordinate's weight.
        loss_fn = losses.HeatmapSoftmaxCE(from_logits=False)
        sizes = (("x_marginal", self.codec.heatmap_size[1]), ("y_marginal", self.codec.heatmap_size[0]),
                 ("z_marginal", self.codec.depth_bins))
        total = 0.0
        for axis, (key, size) in enumerate(sizes):
            centres = cells[..., axis : axis + 1]
            target = _MARGINAL_TARGETS[kind](centres, size)
            w = weights[..., axis] * ops.cast(targets.in_map(centres, (size,)), "float32")
            total += loss_fn(target, y_pred[prefix + key], w)
        return total / 3.0


def stage_prefixes(y_pred):
    """The output-key prefixes of the supervised stages: `stage<i>_` for earlier ones, `""` for the last."""
    stages = sorted({k.split("_")[0] + "_" for k in y_pred if k.startswith("stage")})
    return stages + [""]


"""IntegralPoseModel: every method of the paper (R1, H1-H3, I*, I1-I3; 2D and 3D) as one Keras Model.

The path of a batch, top to bottom:

    images (b, H, W, 3) RGB in [0, 255]
      -> backbone (ImageNet normalisation inside)       models/backbones/
      -> head: deconvolutions + 1x1 conv (or R1's pool + FC)   models/heads.py
      -> heat maps (b, h, w, joints) | volume (b, h, w, depth, joints)
      -> integral (I*, I1-I3) or arg-max (H1-H3) decoding     layers/
      -> keypoints (b, joints, 2|3): x, y in input-crop pixels, z in mm
         relative to the root; scores (b, joints) in [0, 1]
    compute_loss: the method's joint and/or heat-map losses    losses.py
      with targets built from the keypoints                    targets.py

`model(images)` returns every output the losses need (`heatmaps`, or the
two-step `x/y/z_marginal`s); `model.predict` returns `keypoints` and `scores`.
"""

import math
import numbers

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_integral import losses
from keras_integral import skeletons
from keras_integral import targets
from keras_integral.layers import HeatmapArgmax
from keras_integral.layers import IntegralRegression2D
from keras_integral.layers import IntegralRegression3D
from keras_integral.layers import JointConfidence
from keras_integral.layers import MarginalIntegral3D
from keras_integral.metrics.streaming import MPJPE
from keras_integral.metrics.streaming import PCK
from keras_integral.models.backbones import HUB_PREFIX
from keras_integral.models.backbones import backbone_stride
from keras_integral.models.backbones import get_backbone
from keras_integral.models.heads import DeconvHead
from keras_integral.models.heads import RegressionHead

METHODS_2D = ("R1", "H1", "H2", "H3", "I*", "I1", "I2", "I3")
METHODS_3D = ("R1", "H1", "H2", "I*", "I1", "I2")
# Methods decoded by the integral (soft-argmax) over the heat maps.
INTEGRAL_METHODS = ("I*", "I1", "I2", "I3")
SKELETONS_3D = ("h36m", "h36m18")
# The heat-map loss each method trains with (I1-I3: in phase 1 only).
HEATMAP_LOSS = {"H1": "H1", "H2": "H2", "H3": "H3", "I1": "H1", "I2": "H2", "I3": "H3"}
SCORE_MODE = {"H1": "peak", "H3": "sigmoid"}  # every other method: "softmax"
BACKBONE_STRIDE = 32  # the full ResNets' (the authors' models)
H3_RADIUS_INPUT_PX = 15.0  # the paper's H3 positive radius, in input pixels


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _as_size(value, arg):
    """An int or a pair of ints -> `(height, width)` of Python ints."""
    if _is_int(value):
        value = (value, value)
    try:
        size = tuple(value)
    except TypeError:
        size = ()
    if len(size) != 2 or not all(_is_int(v) and v > 0 for v in size):
        raise ValueError(
            f"`{arg}` must be (height, width) of positive ints, or one positive int for a square, "
            f"received {value!r}."
        )
    return tuple(int(v) for v in size)


def _static_images(x):
    """`(shape, dtype)` of the images in what a caller passes to the model, or None if unknown.

    Understands arrays, tensors (Keras symbolic ones too), `{"images": ...}`,
    `[images]`, nested lists of numbers and `tf.data.Dataset`s of images or
    `(images, targets)`. Shapes are static: a traced call's `None` sizes stay `None`.
    """
    if isinstance(x, tf.data.Dataset):
        x = x.element_spec
        x = x[0] if isinstance(x, (tuple, list)) else x
    if isinstance(x, dict):
        x = x.get("images")
    if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
        x = x[0]
    if x is None:
        return None
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError):  # ragged lists: Keras reports them
            return None
    shape = x.shape
    if isinstance(shape, tf.TensorShape):
        if shape.rank is None:
            return None
        shape = shape.as_list()
    try:
        dtype = keras.backend.standardize_dtype(x.dtype)
    except ValueError:  # strings, objects
        dtype = str(getattr(x.dtype, "name", x.dtype))
    return tuple(shape), dtype


def check_images(x, input_size, name="The model"):
    """Raises a ValueError saying what is wrong with `x` unless it can be a batch of input crops.

    A model takes `(batch, height, width, 3)` RGB crops in [0, 255], uint8 or
    float, of exactly its `input_size`; sizes unknown while tracing pass.

    Returns:
        The static batch size, or None when it is unknown.
    """
    found = _static_images(x)
    if found is None:
        return None
    shape, dtype = found
    height, width = input_size
    expected = f"expects a batch of RGB crops (batch, {height}, {width}, 3), uint8 or float in [0, 255]"
    if len(shape) == 3 and tuple(shape) in ((height, width, 3), (height, width, None)):
        raise ValueError(f"{name} {expected}; received one image of shape {shape}: add a batch axis (images[None]).")
    if len(shape) != 4:
        raise ValueError(f"{name} {expected}; received shape {shape} (rank {len(shape)}, not 4).")
    if shape[3] is not None and shape[3] != 3:
        hint = ": drop the alpha channel (images[..., :3])" if shape[3] == 4 else ""
        raise ValueError(f"{name} {expected}; received {shape[3]} channels (shape {shape}){hint}.")
    if any(s is not None and s != e for s, e in zip(shape[1:3], (height, width))):
        raise ValueError(
            f"{name} {expected}; received crops of {shape[1]}x{shape[2]} (shape {shape}): crop and resize "
            "each person to the input size first (keras_integral.inference.Predictor does, from boxes)."
        )
    if not dtype.startswith(("uint", "int", "float", "bfloat")):
        raise ValueError(f"{name} {expected}; received dtype {dtype}.")
    return shape[0]


DECODINGS = ("centre", "authors")


def cells_to_keypoints(cells, decoding, heatmap_size, input_size, depth_bins=None, depth_range_mm=2000.0):
    """Heat-map cells (and depth bins) -> input-crop pixels (and mm from the root).

    `decoding="centre"` (ours, DESIGN.md): cell j is centred on input pixel
    `(j + 0.5) * W / w - 0.5`, depth bin d on `((d + 0.5) / D - 0.5) * range`.
    `decoding="authors"` (their released models, authors-code.md section 1):
    cell j maps to pixel `j * W / w` and bin d to `(d / D - 0.5) * range`.
    """
    if decoding == "centre":
        xy = targets.heatmap_to_input(cells[..., :2], heatmap_size, input_size)
        shift = 0.5
    else:
        scale = [input_size[1] / heatmap_size[1], input_size[0] / heatmap_size[0]]
        xy = cells[..., :2] * ops.convert_to_tensor(scale, "float32")
        shift = 0.0
    if not depth_bins:
        return xy
    depth_mm = ((cells[..., 2:] + shift) / depth_bins - 0.5) * depth_range_mm
    return ops.concatenate([xy, depth_mm], axis=-1)


def keypoints_to_cells(keypoints, decoding, heatmap_size, input_size, depth_bins=None, depth_range_mm=2000.0):
    """Inverse of `cells_to_keypoints`: the targets of the heat-map losses."""
    if decoding == "centre":
        xy = targets.input_to_heatmap(keypoints[..., :2], input_size, heatmap_size)
        shift = 0.5
    else:
        scale = [heatmap_size[1] / input_size[1], heatmap_size[0] / input_size[0]]
        xy = keypoints[..., :2] * ops.convert_to_tensor(scale, "float32")
        shift = 0.0
    if not depth_bins:
        return xy
    bins = (keypoints[..., 2:] / depth_range_mm + 0.5) * depth_bins - shift
    return ops.concatenate([xy, bins], axis=-1)


@keras.saving.register_keras_serializable(package="keras_integral")
class IntegralPoseModel(keras.Model):
    """A top-down pose model for one method of the paper, in 2D or 3D.

    The method names are the paper's (section 3):

    | method | head output | loss | decoding |
    |---|---|---|---|
    | R1 | pool + FC -> coordinates | joint L1 | direct |
    | H1 / H2 / H3 | heat maps | Gaussian MSE / one-hot softmax CE / BCE | arg-max |
    | I* | heat maps | joint L1 | integral |
    | I1 / I2 / I3 | heat maps | phase 1: H1/H2/H3 loss; phase 2: joint L1 | integral |

    3D (`depth_bins` given, H36M skeleton): the head predicts a volume of
    `depth_bins` bins spanning `depth_range_mm` around the root. With
    `two_step=False` the integral is Eq. 4 and heat-map losses act on the
    volume (strategy 1); with `two_step=True` it is Eq. 5-6 and heat-map
    losses act on the x, y, z marginals, so 2D samples (z weight 0) supervise
    x and y (strategy 2, mixed 2D/3D training).

    Args:
        backbone: str. `"resnet18"`...`"resnet152"`, `"resnet18_stride8"` (the first
            stages only, `models.backbones`), `"hourglass<stacks>"`,
            `"mobilenetv3_small"`, `"mobilenetv3_large"`, or
            `"keras_hub:<preset>"`; or a stride-32 backbone `keras.Model`,
            e.g. a `keras_hub.models.Backbone` (see `models/backbones/hub.py`
            for the supported ones and the normalisation each gets). A model
            object is used as it is (not copied) and saved with the model.
        method: str. One of `METHODS_2D` (2D) or `METHODS_3D` (3D).
        skeleton: str. `"coco"`, `"mpii"`, `"h36m"`, `"h36m18"`.
        input_size: `(height, width)` of the input crop in pixels.
        heatmap_size: `(h, w)` of the heat maps. Defaults to `input_size / 4`
            (three 2x deconvolutions on a stride-32 backbone, one on stride 8); `input_size /
            8` gives the paper's two-deconvolution setting (Table 2).
        depth_bins: int or None. Number of depth bins; makes the model 3D.
            (For R1, only its presence matters.)
        two_step: bool. Two-step integral (Eq. 5-6) instead of Eq. 4.
        depth_range_mm: float. Depth span of the bins, centred on the root.
        joint_loss: `"l1"` (the paper's choice) or `"l2"`.
        phase: 1 or 2. For I1-I3: 1 trains with the heat-map loss only, 2
            with the joint loss only. Switch it between epochs with
            `keras_integral.training.PhaseSchedule` (no rebuild needed).
        backbone_weights: for a backbone given by name: None (random),
            `"imagenet"` (torchvision's ImageNet weights for the ResNets,
            Keras Applications' for the MobileNets), a local torchvision
            `.pth` state dict (ResNets) or a `.weights.h5` file.
        head_filters: channels of the deconvolution layers (256 in the paper).
        decoding: `"centre"` (cell centres, DESIGN.md) or `"authors"` (the
            index x stride convention of the authors' released models, kept
            so imported checkpoints predict the same pixels as in PyTorch).
        integral_scale: float > 0. Integral methods: the head's logits are
            multiplied by it before the softmax of the integral (an inverse
            temperature; 1 is the paper's Eq. 2). The H1 loss of I1's first
            phase trains peaks of height 1 over 0, whose softmax over a
            16x16 map is nearly uniform, so at the switch to the joint loss
            the integral starts near the map's centre; with a scale of 10 it
            starts as a soft arg-max of the same maps. Heat-map losses see
            the unscaled logits.
        name: model name.

    Call outputs (dict):
        `keypoints` `(batch, joints, 2|3)`: `(x, y)` in input-crop pixels
        (pixel centres at integers) and `z` in mm relative to the root;
        `scores` `(batch, joints)` in [0, 1]; `heatmaps` (heat-map methods)
        `(batch, h, w, joints)` or `(batch, h, w, depth, joints)` logits, or
        for two-step 3D `x_marginal` `(batch, w, joints)`, `y_marginal`,
        `z_marginal`. Earlier stages (hourglass stacks) add the same keys
        prefixed `stage<i>_`. `predict` returns `keypoints` and `scores` only.

    Example:

    >>> import numpy as np
    >>> model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco",
    ...                           input_size=(64, 64))
    >>> model.compile()
    >>> out = model.predict(np.zeros((2, 64, 64, 3), "uint8"), verbose=0)
    >>> out["keypoints"].shape, out["scores"].shape
    ((2, 17, 2), (2, 17))

    Reference: Sun et al., Integral Human Pose Regression, ECCV 2018.
    """

    def __init__(
        self,
        backbone="resnet50",
        method="I1",
        skeleton="coco",
        input_size=(256, 256),
        heatmap_size=None,
        depth_bins=None,
        two_step=False,
        depth_range_mm=2000.0,
        joint_loss="l1",
        phase=1,
        backbone_weights=None,
        head_filters=256,
        decoding="centre",
        integral_scale=1.0,
        name=None,
        **kwargs,
    ):
        # === Validation ===
        skeleton_obj = skeletons.get(skeleton)
        is_3d = depth_bins is not None
        allowed = METHODS_3D if is_3d else METHODS_2D
        if method not in allowed:
            raise ValueError(
                f"Unknown {'3D' if is_3d else '2D'} method {method!r}; expected one of {allowed}."
            )
        if is_3d and skeleton_obj.name not in SKELETONS_3D:
            raise ValueError(
                f"A 3D model (depth_bins={depth_bins}) needs a 3D skeleton, one of {SKELETONS_3D}; "
                f"received skeleton={skeleton_obj.name!r}."
            )
        if is_3d and (not isinstance(depth_bins, int) or depth_bins < 2):
            raise ValueError(f"`depth_bins` must be an int >= 2 or None, received {depth_bins!r}.")
        if two_step and not is_3d:
            raise ValueError("`two_step=True` needs a 3D model: give `depth_bins`.")
        if decoding not in DECODINGS:
            raise ValueError(f"`decoding` must be one of {DECODINGS}, received {decoding!r}.")
        if phase not in (1, 2):
            raise ValueError(f"`phase` must be 1 or 2, received {phase!r}.")
        if isinstance(integral_scale, bool) or not isinstance(integral_scale, (int, float)) or not integral_scale > 0:
            raise ValueError(f"`integral_scale` must be a number > 0, received {integral_scale!r}.")
        if (isinstance(depth_range_mm, bool) or not isinstance(depth_range_mm, numbers.Real)
                or not math.isfinite(depth_range_mm) or depth_range_mm <= 0):
            raise ValueError(
                f"`depth_range_mm` must be a finite number of millimetres > 0 (the depth bins' span), "
                f"received {depth_range_mm!r}."
            )
        if not _is_int(head_filters) or head_filters < 1:
            raise ValueError(f"`head_filters` must be a positive int, received {head_filters!r}.")
        input_size = _as_size(input_size, "input_size")
        if not isinstance(backbone, str) or backbone.startswith(HUB_PREFIX):
            # An object, a saved config or a keras-hub preset: resolved once, kept whole in the config.
            backbone = get_backbone(backbone, (*input_size, 3), weights=backbone_weights)
        hourglass = isinstance(backbone, str) and backbone.lower().startswith("hourglass")
        stride = backbone_stride(backbone)
        if any(s % stride for s in input_size):
            raise ValueError(
                f"`input_size` {input_size} must be a multiple of the backbone stride {stride} "
                f"for backbone {backbone!r}."
            )
        features_size = (input_size[0] // stride, input_size[1] // stride)
        heatmap_size = _as_size(heatmap_size, "heatmap_size") if heatmap_size else None
        num_deconv = self._num_deconv(method, hourglass, input_size, features_size, heatmap_size)
        if heatmap_size is None:
            heatmap_size = (features_size[0] * 2**num_deconv, features_size[1] * 2**num_deconv)
        joints = skeleton_obj.num_joints

        # === Functional model ===
        images = keras.Input((*input_size, 3), name="images")
        outputs = {}
        if method == "R1":
            net = get_backbone(backbone, (*input_size, 3), weights=backbone_weights)
            normalised = RegressionHead(joints, dims=3 if is_3d else 2, name="head")(net(images))
            scale = [input_size[1], input_size[0]] + ([depth_range_mm] if is_3d else [])
            outputs["keypoints"] = normalised * ops.convert_to_tensor(scale, "float32")
            # Direct regression has no heat map to measure confidence on.
            outputs["scores"] = ops.ones_like(normalised[..., 0])
        else:
            channels = joints * (depth_bins or 1)
            stage_maps = self._stage_heatmaps(
                images, backbone, backbone_weights, channels, num_deconv, head_filters
            )
            last = len(stage_maps) - 1
            for i, maps in enumerate(stage_maps):
                if is_3d:
                    # Channel c = d * joints + k, reshaped without transpose (DESIGN.md).
                    maps = keras.layers.Reshape(
                        (*heatmap_size, depth_bins, joints), name=f"volume_{i}"
                    )(maps)
                stage = self._decode(maps, method, is_3d, two_step, depth_bins, depth_range_mm,
                                     input_size, heatmap_size, decoding, i, float(integral_scale))
                prefix = "" if i == last else self._stage_prefix(i)
                outputs.update({prefix + key: value for key, value in stage.items()})
        backbone_name = backbone if isinstance(backbone, str) else backbone.name
        super().__init__(inputs=images, outputs=outputs, name=name or f"{method.lower().replace('*', 'star')}_{backbone_name}", **kwargs)

        # === Config ===
        self.backbone_name = backbone_name
        self._backbone_by_name = isinstance(backbone, str)
        self.method = method
        self.skeleton = skeleton_obj.name
        self.input_size = input_size
        self.heatmap_size = heatmap_size
        self.depth_bins = depth_bins
        self.two_step = two_step
        self.depth_range_mm = float(depth_range_mm)
        self.joint_loss = joint_loss
        self.phase = phase
        self.backbone_weights = backbone_weights
        self.head_filters = head_filters
        self.decoding = decoding
        self.integral_scale = float(integral_scale)
        self._joint_loss_fn = losses.JointLoss(joint_loss)

    @staticmethod
    def _num_deconv(method, hourglass, input_size, features_size, heatmap_size):
        if method == "R1" or hourglass:
            if heatmap_size is not None and hourglass and method != "R1":
                expected = features_size
                if heatmap_size != expected:
                    raise ValueError(
                        f"A hourglass backbone predicts heat maps of input_size / 4 = {expected}; "
                        f"received heatmap_size={heatmap_size}."
                    )
            return 0
        if heatmap_size is None:  # stride-4 heat maps: three deconvolutions on a stride-32 ResNet
            return int(math.log2(input_size[0] // features_size[0] // 4))
        if heatmap_size[0] > input_size[0] or heatmap_size[1] > input_size[1]:
            raise ValueError(
                f"`heatmap_size` {heatmap_size} is larger than the input {input_size}; "
                f"allowed: {features_size} x 2**n for n >= 0, at most the input size."
            )
        n = math.log2(heatmap_size[0] / features_size[0])
        if n != int(n) or n < 0 or heatmap_size[1] != features_size[1] * 2 ** int(n):
            allowed = [(features_size[0] * 2**k, features_size[1] * 2**k) for k in range(6)
                       if features_size[0] * 2**k <= input_size[0]]
            raise ValueError(
                f"`heatmap_size` {heatmap_size} must be the backbone's {features_size} features "
                f"upsampled by 2**n; allowed: {allowed}."
            )
        return int(n)

    def _stage_heatmaps(self, images, backbone, backbone_weights, channels, num_deconv, head_filters):
        """Images -> the head outputs `(batch, h, w, channels)` of every supervised stage, in order.

        One stage for a ResNet or MobileNet, one per stack for a hourglass.
        Called before `keras.Model.__init__`; `MultiStagePoseModel` overrides it.
        """
        if str(backbone).lower().startswith("hourglass"):
            net = get_backbone(
                backbone, images.shape[1:], weights=backbone_weights, output_channels=channels
            )
            return list(net(images))
        net = get_backbone(backbone, images.shape[1:], weights=backbone_weights)
        head = DeconvHead(channels, num_deconv=num_deconv, filters=head_filters, name="head")
        return [head(net(images))]

    @staticmethod
    def _stage_prefix(i):
        """Output-key prefix of stage `i` (0-based; hourglass stacks), every stage but the last."""
        return f"stage{i}_"

    @staticmethod
    def _decode(maps, method, is_3d, two_step, depth_bins, depth_range_mm, input_size, heatmap_size,
                decoding, i, integral_scale=1.0):
        """Heat maps of one stage -> dict of keypoints, scores and the loss inputs."""
        out = {}
        uses_heatmap_loss = method in HEATMAP_LOSS
        integral = method in INTEGRAL_METHODS
        # The integral's softmax (and the scores) see the logits times `integral_scale`;
        # the heat-map losses see the head's own output.
        logits = maps
        if integral and integral_scale != 1.0:
            logits = keras.layers.Rescaling(integral_scale, name=f"integral_scale_{i}")(maps)
        if is_3d and two_step:
            cells, mx, my, mz = MarginalIntegral3D(name=f"integral_{i}")(logits)
            if uses_heatmap_loss:
                out.update(x_marginal=mx, y_marginal=my, z_marginal=mz)
            if not integral:  # H1/H2 on marginals: arg-max of each marginal
                argmax = HeatmapArgmax(name=f"argmax_{i}")
                cells = ops.concatenate([argmax(mx), argmax(my), argmax(mz)], axis=-1)
        elif is_3d:
            if integral:
                cells = IntegralRegression3D(name=f"integral_{i}")(logits)
            else:
                cells = HeatmapArgmax(name=f"argmax_{i}")(maps)
            if uses_heatmap_loss:
                out["heatmaps"] = maps
        else:
            if integral:
                cells = IntegralRegression2D(name=f"integral_{i}")(logits)
            else:
                cells = HeatmapArgmax(name=f"argmax_{i}")(maps)
            if uses_heatmap_loss:
                out["heatmaps"] = maps
        out["keypoints"] = cells_to_keypoints(
            cells, decoding, heatmap_size, input_size, depth_bins, depth_range_mm
        )
        out["scores"] = JointConfidence(SCORE_MODE.get(method, "softmax"), name=f"scores_{i}")(logits)
        return out

    # === Training ===

    def compile(self, optimizer="auto", metrics="auto", jit_compile=False, **kwargs):
        """Configures training with the method's own losses.

        Args:
            optimizer: `"auto"` (Adam, learning rate 1e-3, as in the paper) or
                any Keras optimizer.
            metrics: `"auto"` (PCK at 5 % of the crop size; `joint_error`,
                the mean Euclidean joint error in fractions of the crop width
                and height (and of `depth_range_mm` for z), the units of the
                joint loss whatever the phase; for 3D also the mean absolute
                depth error in mm) or a list of metric objects taking
                `(keypoints true, keypoints predicted, weights)`.
            jit_compile: XLA. Off by default: on 2 CPU cores it made a
                ResNet-18 step at 64x64 about 8x slower (DESIGN.md).
            **kwargs: passed to `keras.Model.compile` (not `loss`: the
                method defines it).
        """
        if "loss" in kwargs:
            raise ValueError(
                f"IntegralPoseModel defines its loss from method={self.method!r}; "
                "do not pass `loss` to compile()."
            )
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        if metrics == "auto":
            scale = [1.0 / self.input_size[1], 1.0 / self.input_size[0]]
            scale += [1.0 / self.depth_range_mm] if self.depth_bins else []
            metrics = [PCK(self.input_size, threshold=0.05), MPJPE(coordinate_scale=scale, name="joint_error")]
            if self.depth_bins:
                metrics.append(MPJPE(coordinate_scale=(0.0, 0.0, 1.0), name="depth_error_mm"))
        self.pose_metrics = list(metrics or [])
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {
            "optimizer": keras.optimizers.serialize(self.optimizer),
            "jit_compile": bool(self.jit_compile),
        }

    def compile_from_config(self, config):
        # Metrics are rebuilt as "auto"; the optimizer (and its state) comes back.
        self.compile(
            optimizer=keras.optimizers.deserialize(config["optimizer"]),
            jit_compile=config.get("jit_compile", False),
        )
        # Built now, so the saved optimizer state (moments, iterations) loads into it.
        self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The method's loss for one batch.

        Args:
            y: dict with `keypoints` `(batch, joints, 2|3)` in input-crop
                pixels (and z in mm) and `weights` of the same shape.
            y_pred: the model's outputs on `x`.
        """
        if not isinstance(y, dict) or "keypoints" not in y or "weights" not in y:
            raise ValueError(
                "IntegralPoseModel expects targets {'keypoints': (batch, joints, dims), "
                f"'weights': (batch, joints, dims)}}, received {type(y).__name__}: {y!r:.200}."
            )
        true, weights = ops.cast(y["keypoints"], "float32"), ops.cast(y["weights"], "float32")
        dims = 3 if self.depth_bins else 2
        if true.shape[-1] != dims or weights.shape[-1] != dims:
            raise ValueError(
                f"This {dims}D model expects keypoints and weights with {dims} coordinates, "
                f"received {tuple(true.shape)} and {tuple(weights.shape)}."
            )
        use_heatmaps = self.method in HEATMAP_LOSS and (self.method.startswith("H") or self.phase == 1)
        use_joints = self.method in ("R1", "I*") or (self.method in ("I1", "I2", "I3") and self.phase == 2)
        total = 0.0
        for prefix in self._stage_prefixes(y_pred):
            if use_joints:
                total += self._joint_loss_fn(
                    self._normalise(true), self._normalise(y_pred[prefix + "keypoints"]), weights
                )
            if use_heatmaps:
                total += self._heatmap_loss(true, weights, y_pred, prefix)
        return total

    def _stage_prefixes(self, y_pred):
        stages = sorted({k.split("_")[0] + "_" for k in y_pred if k.startswith("stage")})
        return stages + [""]

    def _normalise(self, keypoints):
        """Crop pixels (and mm) -> fractions of the crop size (and of the depth range)."""
        scale = [1.0 / self.input_size[1], 1.0 / self.input_size[0]]
        if self.depth_bins:
            scale.append(1.0 / self.depth_range_mm)
        return keypoints * ops.convert_to_tensor(scale, "float32")

    def _to_cells(self, keypoints):
        return keypoints_to_cells(keypoints, self.decoding, self.heatmap_size, self.input_size,
                                  self.depth_bins, self.depth_range_mm)

    def _heatmap_loss(self, true, weights, y_pred, prefix):
        kind = HEATMAP_LOSS[self.method]
        cells = self._to_cells(true)
        if self.depth_bins and self.two_step:
            # Strategy 2: each marginal is supervised by its own coordinate's weight.
            loss_fn = losses.HeatmapSoftmaxCE(from_logits=False)
            total = 0.0
            for axis, (key, size) in enumerate(
                (("x_marginal", self.heatmap_size[1]), ("y_marginal", self.heatmap_size[0]),
                 ("z_marginal", self.depth_bins))
            ):
                centres = cells[..., axis : axis + 1]
                if kind == "H1":
                    target = targets.gaussian_maps(centres, (size,), normalize=True)
                else:
                    target = targets.onehot_maps(centres, (size,))
                w = weights[..., axis] * ops.cast(targets.in_map(centres, (size,)), "float32")
                total += loss_fn(target, y_pred[prefix + key], w)
            return total / 3.0
        maps = ops.cast(y_pred[prefix + "heatmaps"], "float32")
        shape = tuple(maps.shape[1:-1])
        joint_weight = ops.min(weights, axis=-1)  # a joint counts only where every coordinate is labelled
        if kind == "H1":
            return losses.HeatmapMSE()(targets.gaussian_maps(cells, shape), maps, joint_weight)
        if kind == "H2":
            joint_weight = joint_weight * ops.cast(targets.in_map(cells, shape), "float32")
            return losses.HeatmapSoftmaxCE()(targets.onehot_maps(cells, shape), maps, joint_weight)
        radius = H3_RADIUS_INPUT_PX * self.heatmap_size[1] / self.input_size[1]
        return losses.HeatmapBCE()(targets.disk_maps(cells, shape, radius), maps, joint_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for metric in self.pose_metrics:
            metric.update_state(y["keypoints"], y_pred["keypoints"], y["weights"])
        logs = self.get_metrics_result()
        if isinstance(self._distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras averages these logs across workers along axis 0, which a scalar lacks
            # (keras-team/keras#20585): give each a length-1 axis.
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3 builds the optimizer and metrics from the first batch, averaged across replicas with
        # `strategy.reduce`, which fails on a MultiWorkerMirroredStrategy's per-replica batch
        # (keras-team/keras#20585). Shapes are all the build needs: take this worker's first replica.
        strategy = self._distribute_strategy
        if iterator is not None and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], next(batches)
                )
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # === Inference ===
    # The input check runs in Python on static shapes, before Keras's own: a
    # traced call (export, fit) sees the same graph as without it.

    def __call__(self, *args, **kwargs):
        images = args[0] if args else kwargs.get("inputs")
        if check_images(images, self.input_size, f"Model {self.name!r}") == 0:
            return {key: ops.zeros((0, *value.shape[1:]), value.dtype) for key, value in self.output.items()}
        return super().__call__(*args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`: `{"keypoints", "scores"}` of `(batch, H, W, 3)` crops; an empty batch gives empty arrays."""
        if check_images(x, self.input_size, f"Model {self.name!r}") == 0:
            return self._empty_predictions()
        return super().predict(x, *args, **kwargs)

    def predict_on_batch(self, x):
        if check_images(x, self.input_size, f"Model {self.name!r}") == 0:
            return self._empty_predictions()
        return super().predict_on_batch(x)

    def _empty_predictions(self):
        return {key: np.zeros((0, *self.output[key].shape[1:]), self.output[key].dtype)
                for key in ("keypoints", "scores")}

    def predict_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        outputs = self(x, training=False)
        return {"keypoints": outputs["keypoints"], "scores": outputs["scores"]}

    # === Serialisation ===

    def get_config(self):
        return {
            # A backbone object (e.g. keras-hub's) is saved whole, so loading needs no download.
            "backbone": self.backbone_name if self._backbone_by_name
            else keras.saving.serialize_keras_object(self.get_layer(self.backbone_name)),
            "method": self.method,
            "skeleton": self.skeleton,
            "input_size": list(self.input_size),
            "heatmap_size": list(self.heatmap_size) if self.heatmap_size else None,
            "depth_bins": self.depth_bins,
            "two_step": self.two_step,
            "depth_range_mm": self.depth_range_mm,
            "joint_loss": self.joint_loss,
            "phase": self.phase,
            "backbone_weights": None,  # weights travel in the model file, not as a path
            "head_filters": self.head_filters,
            "decoding": self.decoding,
            "integral_scale": self.integral_scale,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, preset, sha256=None):
        """Loads a preset: registry name, folder or URL (see `keras_integral.zoo.from_preset`)."""
        from keras_integral.zoo import from_preset  # the zoo imports this module

        return from_preset(preset, sha256=sha256)

"""IntegralPoseModel: every method of the paper (R1, H1-H3, I*, I1-I3; 2D and 3D) as one Keras Model.

The path of a batch, top to bottom:

    images (b, H, W, 3) RGB in [0, 255]
      -> backbone (ImageNet normalisation inside)       models/backbones/
      -> head: deconvolutions + 1x1 conv (or R1's pool + FC)   models/heads.py
      -> heat maps (b, h, w, joints) | volume (b, h, w, depth, joints)
      -> integral (I*, I1-I3) or arg-max (H1-H3) decoding     layers/
      -> keypoints (b, joints, 2|3): x, y in input-crop pixels, z in mm
         relative to the root; scores (b, joints) in [0, 1]
    compute_loss: the method's joint and/or heat-map losses    models/pose_loss.py
      (the method's row: methods.py; cells <-> pixels: codec.py)

`model(images)` returns every output the losses need (`heatmaps`, or the
two-step `x/y/z_marginal`s); `model.predict` returns `keypoints` and `scores`.
"""

import math
import numbers

import keras
import numpy as np
from keras import ops

from keras_integral import methods
from keras_integral import skeletons
from keras_integral.codec import CONVENTIONS
from keras_integral.codec import KeypointCodec
from keras_integral.data.transforms import CROP_MARGIN
from keras_integral.data.transforms import check_crop_margin
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
from keras_integral.models.backbones import returns_heatmaps
from keras_integral.models.heads import DeconvHead
from keras_integral.models.heads import RegressionHead
from keras_integral.models.inputs import as_size
from keras_integral.models.inputs import check_images
from keras_integral.models.inputs import is_int
from keras_integral.models.multiworker_fit import MultiWorkerFitMixin
from keras_integral.models.pose_loss import PoseLoss

SKELETONS_3D = ("h36m", "h36m18")


@keras.saving.register_keras_serializable(package="keras_integral")
class IntegralPoseModel(MultiWorkerFitMixin, keras.Model):
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
        method: str. One of `methods.METHODS_2D` (2D) or `methods.METHODS_3D` (3D).
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
        decoding: `"centre"` (cell centres, DESIGN.md), `"authors"` (the
            index x stride convention of the authors' released models, kept
            so imported checkpoints predict the same pixels as in PyTorch)
            or `"mmpose"` (MMPose's, the same in x and y; 2D only; codec.py).
        integral_scale: float > 0. Integral methods: the head's logits are
            multiplied by it before the softmax of the integral (an inverse
            temperature; 1 is the paper's Eq. 2). The H1 loss of I1's first
            phase trains peaks of height 1 over 0, whose softmax over a
            16x16 map is nearly uniform, so at the switch to the joint loss
            the integral starts near the map's centre; with a scale of 10 it
            starts as a soft arg-max of the same maps. Heat-map losses see
            the unscaled logits.
        crop_margin: float > 0. The box enlargement of the crops the model
            sees (`transforms.box_to_crop`: the box at the input's aspect
            ratio, both sides times this). Part of the model: training,
            evaluation, `inference.Predictor` and export crop with it, and
            presets and export manifests carry it. A config without it (older
            presets) loads with the default.
        debias: bool. 2D integral methods: Gu et al.'s debiased integral as
            MMPose computes it (`IntegralRegression2D(debias=True)`), for
            MMPose's debias-IPR models. Defaults to `False`.
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
        crop_margin=CROP_MARGIN,
        debias=False,
        name=None,
        **kwargs,
    ):
        # === Validation ===
        crop_margin = check_crop_margin(crop_margin)
        skeleton_obj = skeletons.get(skeleton)
        is_3d = depth_bins is not None
        method_row = methods.get(method, dims=3 if is_3d else 2)
        if is_3d and skeleton_obj.name not in SKELETONS_3D:
            raise ValueError(
                f"A 3D model (depth_bins={depth_bins}) needs a 3D skeleton, one of {SKELETONS_3D}; "
                f"received skeleton={skeleton_obj.name!r}."
            )
        if is_3d and (not isinstance(depth_bins, int) or depth_bins < 2):
            raise ValueError(f"`depth_bins` must be an int >= 2 or None, received {depth_bins!r}.")
        if two_step and not is_3d:
            raise ValueError("`two_step=True` needs a 3D model: give `depth_bins`.")
        if decoding not in CONVENTIONS:
            raise ValueError(f"`decoding` must be one of {CONVENTIONS}, received {decoding!r}.")
        if phase not in (1, 2):
            raise ValueError(f"`phase` must be 1 or 2, received {phase!r}.")
        if debias and (is_3d or method_row.decoder != "integral"):
            raise ValueError(f"`debias=True` is for 2D integral methods; received method={method!r}, "
                             f"depth_bins={depth_bins!r}.")
        if isinstance(integral_scale, bool) or not isinstance(integral_scale, (int, float)) or not integral_scale > 0:
            raise ValueError(f"`integral_scale` must be a number > 0, received {integral_scale!r}.")
        if (isinstance(depth_range_mm, bool) or not isinstance(depth_range_mm, numbers.Real)
                or not math.isfinite(depth_range_mm) or depth_range_mm <= 0):
            raise ValueError(
                f"`depth_range_mm` must be a finite number of millimetres > 0 (the depth bins' span), "
                f"received {depth_range_mm!r}."
            )
        if not is_int(head_filters) or head_filters < 1:
            raise ValueError(f"`head_filters` must be a positive int, received {head_filters!r}.")
        input_size = as_size(input_size, "input_size")
        if not isinstance(backbone, str) or backbone.startswith(HUB_PREFIX):
            # An object, a saved config or a keras-hub preset: resolved once, kept whole in the config.
            backbone = get_backbone(backbone, (*input_size, 3), weights=backbone_weights)
        heatmap_backbone = returns_heatmaps(backbone)
        stride = backbone_stride(backbone)
        if any(s % stride for s in input_size):
            raise ValueError(
                f"`input_size` {input_size} must be a multiple of the backbone stride {stride} "
                f"for backbone {backbone!r}."
            )
        features_size = (input_size[0] // stride, input_size[1] // stride)
        heatmap_size = as_size(heatmap_size, "heatmap_size") if heatmap_size else None
        num_deconv = self._num_deconv(method_row, heatmap_backbone, input_size, features_size, heatmap_size)
        if heatmap_size is None:
            heatmap_size = (features_size[0] * 2**num_deconv, features_size[1] * 2**num_deconv)
        joints = skeleton_obj.num_joints
        codec = KeypointCodec(input_size, None if method_row.head == "regression" else heatmap_size,
                              depth_bins, depth_range_mm, decoding)

        # === Functional model ===
        images = keras.Input((*input_size, 3), name="images")
        outputs = {}
        if method_row.head == "regression":
            net = get_backbone(backbone, (*input_size, 3), weights=backbone_weights)
            normalised = RegressionHead(joints, dims=3 if is_3d else 2, name="head")(net(images))
            outputs["keypoints"] = codec.denormalise(normalised)
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
                stage = self._decode(maps, method_row, codec, two_step, i, float(integral_scale), bool(debias))
                prefix = "" if i == last else self._stage_prefix(i)
                outputs.update({prefix + key: value for key, value in stage.items()})
        backbone_name = backbone if isinstance(backbone, str) else backbone.name
        name = name or f"{method.lower().replace('*', 'star')}_{backbone_name}"
        super().__init__(inputs=images, outputs=outputs, name=name, **kwargs)

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
        self.crop_margin = crop_margin
        self.debias = bool(debias)
        self.codec = codec
        self._pose_loss = PoseLoss(method_row, codec, joint_loss, two_step)

    @staticmethod
    def _num_deconv(method, heatmap_backbone, input_size, features_size, heatmap_size):
        if method.head == "regression" or heatmap_backbone:
            if heatmap_size is not None and heatmap_backbone and method.head != "regression":
                expected = features_size
                if heatmap_size != expected:
                    raise ValueError(
                        f"The backbone (a hourglass) predicts the heat maps itself, at its output stride: "
                        f"{expected}; received heatmap_size={heatmap_size}."
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
        if returns_heatmaps(backbone):
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
    def _decode(maps, method, codec, two_step, i, integral_scale=1.0, debias=False):
        """Heat maps of one stage -> dict of keypoints, scores and the loss inputs.

        `maps`: `(batch, h, w, joints)`, or the volume `(batch, h, w, depth, joints)` in 3D.
        """
        out = {}
        integral = method.decoder == "integral"
        # The integral's softmax (and the scores) see the logits times `integral_scale`;
        # the heat-map losses see the head's own output.
        logits = maps
        if integral and integral_scale != 1.0:
            logits = keras.layers.Rescaling(integral_scale, name=f"integral_scale_{i}")(maps)
        if codec.depth_bins and two_step:
            cells, mx, my, mz = MarginalIntegral3D(name=f"integral_{i}")(logits)
            if method.outputs_heatmaps:
                out.update(x_marginal=mx, y_marginal=my, z_marginal=mz)
            if not integral:  # H1/H2 on marginals: arg-max of each marginal
                argmax = HeatmapArgmax(name=f"argmax_{i}")
                cells = ops.concatenate([argmax(mx), argmax(my), argmax(mz)], axis=-1)
        else:
            if integral:
                if codec.depth_bins:
                    cells = IntegralRegression3D(name=f"integral_{i}")(logits)
                else:
                    cells = IntegralRegression2D(debias, integral_scale, name=f"integral_{i}")(logits)
            else:
                cells = HeatmapArgmax(name=f"argmax_{i}")(maps)
            if method.outputs_heatmaps:
                out["heatmaps"] = maps
        out["keypoints"] = codec.decode(cells)
        out["scores"] = JointConfidence(method.score_mode, name=f"scores_{i}")(logits)
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
        """The method's loss for one batch, in the current `phase` (see `models/pose_loss.py`).

        Args:
            y: dict with `keypoints` `(batch, joints, 2|3)` in input-crop
                pixels (and z in mm) and `weights` of the same shape.
            y_pred: the model's outputs on `x`.
        """
        return self._pose_loss(y, y_pred, self.phase)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for metric in self.pose_metrics:
            metric.update_state(y["keypoints"], y_pred["keypoints"], y["weights"])
        return super().compute_metrics(x, y, y_pred, sample_weight)

    # === Inference ===
    # The input check runs in Python on static shapes, before Keras's own: a
    # traced call (export, fit) sees the same graph as without it.

    def __call__(self, *args, **kwargs):
        images = args[0] if args else kwargs.get("inputs")
        if check_images(images, self.input_size, f"Model {self.name!r}") == 0:
            return {key: ops.zeros((0, *value.shape[1:]), value.dtype) for key, value in self.output.items()}
        return super().__call__(*args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`: `{"keypoints", "scores"}` of `(batch, H, W, 3)` crops.

        An empty batch gives empty arrays.
        """
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

    def predict_step(self, *args):
        # Keras's own step, keeping only what `predict` returns (the heat maps stay on the device).
        # JAX's trainer passes `(state, data)` and takes `(outputs, state)` back; the others pass `data`.
        if keras.backend.backend() == "jax":
            outputs, state = super().predict_step(*args)
            return _predictions(outputs), state
        return _predictions(super().predict_step(*args))

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
            "crop_margin": self.crop_margin,
            "debias": self.debias,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _predictions(outputs):
    """What `predict` returns of the model's outputs: `{"keypoints", "scores"}`."""
    return {"keypoints": outputs["keypoints"], "scores": outputs["scores"]}

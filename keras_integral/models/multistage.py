"""MultiStagePoseModel: the paper's multi-stage baseline, MS-H1/H2/H3 and MS-I1/I2/I3 (Table 4).

The path of a batch, top to bottom (section 5, "multi-stage implementation"):

    images (b, H, W, 3) RGB in [0, 255]
      -> ResNet conv1 ... layer2 ("conv3", stride 8): features shared by every stage
      stage 1:     conv3 -> layer3 -> layer4 -> deconv head -> heat maps 1
      stage s > 1: concat(conv3, heat maps s-1 pooled to stride 8)
                   -> its own layer3 -> layer4 -> deconv head -> heat maps s
      every stage: decoded and supervised as in IntegralPoseModel; losses summed.

Everything but the graph (decoding, losses, phases, compile, predict,
serialisation) is `IntegralPoseModel`'s.
"""

import keras

from keras_integral import methods
from keras_integral.data.transforms import CROP_MARGIN
from keras_integral.models.backbones import get_backbone
from keras_integral.models.backbones.resnet import residual_stage
from keras_integral.models.backbones.resnet_layout import RESNET_DEPTHS
from keras_integral.models.heads import DeconvHead
from keras_integral.models.pose_model import IntegralPoseModel

# Direct regression (R1) has no heat maps to pass from stage to stage.
MULTISTAGE_METHODS_2D = tuple(m.name for m in methods.for_dims(2) if m.head == "heatmaps")
MULTISTAGE_METHODS_3D = tuple(m.name for m in methods.for_dims(3) if m.head == "heatmaps")
MULTISTAGE_BACKBONES = tuple(f"resnet{d}" for d in RESNET_DEPTHS)


@keras.saving.register_keras_serializable(package="keras_integral")
class MultiStagePoseModel(IntegralPoseModel):
    """The multi-stage ResNet pose model of the paper's Table 4, with any heat-map method.

    The conv3 features (ResNet `layer2`, stride 8) are computed once and
    shared. Stage 1 is the single-stage model (the ResNet and a deconv head).
    Each later stage concatenates the conv3 features with the previous
    stage's head output (average-pooled, or upsampled, to the conv3
    resolution), runs its own copy of `layer3` and `layer4`, and its own
    deconv head. Every stage is decoded and supervised with the method's
    loss; the training loss is the sum over stages. The paper's names:

    | paper | here |
    |---|---|
    | MS-H1 (H2, H3), stage N | `MultiStagePoseModel(method="H1", num_stages=N)` |
    | MS-I1 (I2, I3), stage N | `MultiStagePoseModel(method="I1", num_stages=N)` |

    MS-I1 trains as I1 does: phase 1 with the H1 loss on every stage, phase 2
    with the joint L1 loss on every stage. 3D (`depth_bins`) works the same
    way; the volume's `depth * joints` channels are passed between stages.

    Layer names: stage 1 keeps `IntegralPoseModel`'s (the backbone model
    named after it, e.g. `resnet50`, and `head`), so a trained single-stage
    model's weights load onto stage 1 by name. Stage `s > 1` has
    `stage{s}_heatmap_resize` (absent when the heat maps are already at
    stride 8), `stage{s}_concat`, the torchvision-layout blocks
    `stage{s}_layer3_0_conv1`, ..., `stage{s}_layer4_{b}_...` and
    `stage{s}_head`. Its first block's `conv1` and `downsample_0` take
    `joints * (depth_bins or 1)` extra input channels, so ImageNet weights
    fit every other layer of a stage but not those two.

    Args:
        backbone: str. `"resnet18"` ... `"resnet152"` (the paper: ResNet-50).
        method: str. A heat-map method: one of `MULTISTAGE_METHODS_2D`, or
            of `MULTISTAGE_METHODS_3D` for a 3D model.
        num_stages: int >= 1. Number of stages (the paper: 1 to 4).
        skeleton, input_size, heatmap_size, depth_bins, two_step,
            depth_range_mm, joint_loss, phase, backbone_weights,
            head_filters, decoding, crop_margin, name: as in `IntegralPoseModel`
            (`backbone_weights` loads into the shared ResNet, i.e. conv1 to
            layer4 of stage 1).

    Call outputs (dict):
        The last stage's `keypoints` `(batch, joints, 2|3)` in input-crop
        pixels (z in mm from the root), `scores` `(batch, joints)` and loss
        inputs (`heatmaps` or the two-step marginals), unprefixed; stage
        `s < num_stages` adds the same keys prefixed `stage{s}_` (counted
        from 1, as in Table 4). `predict` returns the last stage's
        `keypoints` and `scores` only.

    Example:

    >>> import numpy as np
    >>> model = MultiStagePoseModel(backbone="resnet18", method="I1", num_stages=2,
    ...                             skeleton="mpii", input_size=(64, 64))
    >>> sorted(model.output)
    ['heatmaps', 'keypoints', 'scores', 'stage1_heatmaps', 'stage1_keypoints', 'stage1_scores']
    >>> model.compile()
    >>> model.predict(np.zeros((2, 64, 64, 3), "uint8"), verbose=0)["keypoints"].shape
    (2, 16, 2)

    Reference: Sun et al., Integral Human Pose Regression, ECCV 2018,
    section 5 and Table 4.
    """

    def __init__(
        self,
        backbone="resnet50",
        method="I1",
        num_stages=2,
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
        crop_margin=CROP_MARGIN,
        name=None,
        **kwargs,
    ):
        allowed = MULTISTAGE_METHODS_2D if depth_bins is None else MULTISTAGE_METHODS_3D
        if method not in allowed:
            raise ValueError(
                f"Unknown multi-stage method {method!r}; expected one of {allowed} "
                "(heat-map methods: each stage passes its heat maps to the next)."
            )
        if str(backbone).lower() not in MULTISTAGE_BACKBONES:
            raise ValueError(
                f"MultiStagePoseModel shares a ResNet's conv3 features between stages; `backbone` "
                f"must be one of {MULTISTAGE_BACKBONES}, received backbone={backbone!r}."
            )
        if not isinstance(num_stages, int) or isinstance(num_stages, bool) or num_stages < 1:
            raise ValueError(f"`num_stages` must be an int >= 1, received num_stages={num_stages!r}.")
        # Read by `_stage_heatmaps`, which runs inside `super().__init__`.
        self.num_stages = num_stages
        super().__init__(
            backbone=backbone,
            method=method,
            skeleton=skeleton,
            input_size=input_size,
            heatmap_size=heatmap_size,
            depth_bins=depth_bins,
            two_step=two_step,
            depth_range_mm=depth_range_mm,
            joint_loss=joint_loss,
            phase=phase,
            backbone_weights=backbone_weights,
            head_filters=head_filters,
            decoding=decoding,
            crop_margin=crop_margin,
            name=name or f"ms_{method.lower().replace('*', 'star')}_{num_stages}stages_{backbone}",
            **kwargs,
        )

    def _stage_heatmaps(self, images, backbone, backbone_weights, channels, num_deconv, head_filters):
        """Images -> the head output `(batch, h, w, channels)` of each stage, first to last."""
        net = get_backbone(backbone, images.shape[1:], weights=backbone_weights)
        # The same layers with a second output: conv3 feeds the later stages.
        trunk = keras.Model(net.input, [net.pyramid_outputs["P3"], net.output], name=net.name)
        conv3, conv5 = trunk(images)
        stage_maps = [DeconvHead(channels, num_deconv=num_deconv, filters=head_filters, name="head")(conv5)]
        for s in range(2, self.num_stages + 1):
            previous = _to_resolution(stage_maps[-1], conv3.shape[1:3], name=f"stage{s}_heatmap_resize")
            x = keras.layers.Concatenate(name=f"stage{s}_concat")([conv3, previous])
            for layer in (3, 4):  # torchvision's layer3 and layer4 (conv4, conv5)
                x = residual_stage(x, net.depth, layer, name=f"stage{s}_layer{layer}")
            head = DeconvHead(channels, num_deconv=num_deconv, filters=head_filters, name=f"stage{s}_head")
            stage_maps.append(head(x))
        return stage_maps

    @staticmethod
    def _stage_prefix(i):
        """Output-key prefix of stage `i + 1`: stages count from 1 as in Table 4."""
        return f"stage{i + 1}_"

    def get_config(self):
        return {**super().get_config(), "num_stages": self.num_stages}


def _to_resolution(maps, size, name):
    """Heat maps `(batch, h, w, c)` -> `(batch, *size, c)`; the sizes differ by a power of 2."""
    factor = maps.shape[1] / size[0]
    if factor == 1:
        return maps
    if factor > 1:
        # Averaging, not subsampling: a peak between the sampled cells stays visible.
        return keras.layers.AveragePooling2D(int(factor), name=name)(maps)
    return keras.layers.UpSampling2D(round(1 / factor), interpolation="bilinear", name=name)(maps)

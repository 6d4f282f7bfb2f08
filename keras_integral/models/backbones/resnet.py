"""ResNet-18/34/50/101/152 backbones in the torchvision layout.

The graph mirrors torchvision's `ResNet` without `avgpool`/`fc`, so a PyTorch
state dict maps onto it mechanically: every layer is named after its
state-dict key with "." replaced by "_" (`layer2_0_downsample_0` holds
`layer2.0.downsample.0.weight`). Strided convolutions and the max-pool are
preceded by an explicit symmetric `ZeroPadding2D` and run with
`padding="valid"`, because TensorFlow's `"same"` pads stride-2 layers
(0, 1) where PyTorch pads (1, 1); the two would give different features
from the same weights (`reference/authors-code.md`, section 4).

Example:

>>> import numpy as np
>>> from keras_integral.models.backbones import ResNetBackbone
>>> backbone = ResNetBackbone(depth=18, input_shape=(64, 64, 3))
>>> backbone(np.zeros((1, 64, 64, 3), "float32")).shape
TensorShape([1, 2, 2, 512])
"""

import keras

from keras_integral.models.backbones.base import Backbone
from keras_integral.models.backbones.base import image_normalization
from keras_integral.models.backbones.resnet_layout import BOTTLENECK_EXPANSION
from keras_integral.models.backbones.resnet_layout import RESNET_DEPTHS
from keras_integral.models.backbones.resnet_layout import STAGE_WIDTHS
from keras_integral.models.backbones.torchvision import load_resnet_weights

# PyTorch BatchNorm2d defaults: eps 1e-5, momentum 0.1 (= Keras 0.9).
_BN_KWARGS = {"epsilon": 1e-5, "momentum": 0.9}


def _conv_init():
    # torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu").
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def _conv_bn(x, filters, kernel_size, strides, name, bn_name):
    """Bias-free conv + BN, padded exactly like PyTorch's `padding=k // 2`."""
    if strides == 1 or kernel_size == 1:
        # Stride 1 with odd k: "same" is symmetric; 1x1 needs no padding.
        padding = "same" if kernel_size > 1 else "valid"
    else:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer=_conv_init(),
        name=name,
    )(x)
    return keras.layers.BatchNormalization(**_BN_KWARGS, name=bn_name)(x)


def residual_block(x, kind, width, strides, name):
    """A torchvision BasicBlock or Bottleneck (stride on the 3x3 conv), functional.

    Layer names follow torchvision under `name` (`{name}_conv1`,
    `{name}_bn1`, ..., `{name}_downsample_0`), which the checkpoint converter
    relies on.

    Args:
        x: `(batch, height, width, channels)` input tensor.
        kind: `"basic"` (ResNet-18/34) or `"bottleneck"` (ResNet-50+).
        width: the block's inner channels (output: `width`, or `4 * width`
            for a bottleneck).
        strides: 1 or 2, on the 3x3 convolution and the shortcut.
        name: layer-name prefix.

    Returns:
        `(batch, height / strides, width / strides, out_channels)` tensor.
    """
    out_channels = width * (BOTTLENECK_EXPANSION if kind == "bottleneck" else 1)
    shortcut = x
    if strides != 1 or x.shape[-1] != out_channels:
        shortcut = _conv_bn(
            x,
            out_channels,
            1,
            strides,
            name=f"{name}_downsample_0",
            bn_name=f"{name}_downsample_1",
        )
    if kind == "basic":
        plan = [(width, 3, strides), (width, 3, 1)]
    else:
        plan = [(width, 1, 1), (width, 3, strides), (out_channels, 1, 1)]
    for i, (filters, kernel_size, conv_strides) in enumerate(plan, start=1):
        x = _conv_bn(
            x,
            filters,
            kernel_size,
            conv_strides,
            name=f"{name}_conv{i}",
            bn_name=f"{name}_bn{i}",
        )
        if i < len(plan):
            x = keras.layers.ReLU(name=f"{name}_relu{i}")(x)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def residual_stage(x, depth, stage, name):
    """Residual stage `stage` of ResNet-`depth` (1 to 4: torchvision's `layer1` ... `layer4`), functional.

    The blocks are named `{name}_{b}`; the first block of stages 2 to 4
    halves the resolution. The multi-stage model builds its later stages'
    `layer3` and `layer4` from it.

    Args:
        x: `(batch, height, width, channels)` input tensor.
        depth: 18, 34, 50, 101 or 152.
        stage: 1, 2, 3 or 4.
        name: layer-name prefix (`"layer3"`, `"stage2_layer3"`).

    Returns:
        `(batch, height / s, width / s, out_channels)` tensor, `s` = 2 for
        stages 2 to 4 and 1 for stage 1.
    """
    kind, blocks = RESNET_DEPTHS[depth]
    for b in range(blocks[stage - 1]):
        strides = 2 if (stage > 1 and b == 0) else 1
        x = residual_block(x, kind, STAGE_WIDTHS[stage - 1], strides, name=f"{name}_{b}")
    return x


@keras.saving.register_keras_serializable(package="keras_integral")
class ResNetBackbone(Backbone):
    """ResNet backbone (torchvision layout, output stride 32), no pooling or fc.

    `num_stages` < 4 keeps only the first residual stages (He et al.'s
    conv2_x ... conv{num_stages + 1}_x), ending at output stride
    `4 * 2**(num_stages - 1)`: 8 with two stages (the "conv3" features the
    paper's multi-stage model shares), 16 with three. On small crops this
    keeps a spatial grid to localise on (a 64x64 crop gives 8x8 conv3
    features, 2x2 at stride 32) at a fraction of the cost.

    Input is RGB in `[0, 255]`; ImageNet normalisation happens inside
    (`image_normalization` layer). Layer names mirror torchvision's
    state-dict keys with "." -> "_" (`conv1`, `bn1`, `layer1_0_conv1`,
    `layer2_0_downsample_0`, ...). Bottlenecks put the stride on the 3x3
    conv (torchvision "v1.5"). Convolutions have no bias; BN uses eps 1e-5
    and momentum 0.9 (PyTorch's 0.1).

    Args:
        depth: int. One of 18, 34, 50, 101, 152. Defaults to `50`.
        num_stages: int, 1 to 4. Residual stages kept. Defaults to `4`.
        input_shape: tuple `(height, width, 3)`; `None` sizes are allowed.
            Defaults to `(None, None, 3)`.
        weights: None (random), `"imagenet"` (torchvision's ImageNet
            checkpoint for this depth, downloaded once into the cache,
            `models/backbones/torchvision.py`), a local torchvision `.pth`
            state dict, or a Keras `.weights.h5` file. Not stored in the
            config: a saved model carries its own weights.
        name: model name. Defaults to `f"resnet{depth}"`.
        **kwargs: passed to `keras.Model` (e.g. `trainable`).

    Input shape:
        `(batch, height, width, 3)`, RGB in `[0, 255]`.

    Output shape:
        `(batch, ceil(height / 32), ceil(width / 32), channels)` with
        channels 512 (depth 18/34) or 2048 (50/101/152); the exact size is
        PyTorch's, e.g. 256x192 -> 8x6. With fewer stages, the last kept
        stage's output (stride 8: 128 or 512 channels). `pyramid_outputs`
        holds the stage outputs `{"P2": layer1, "P3": layer2, "P4": layer3,
        "P5": layer4}` at strides 4, 8, 16, 32 (keras-hub convention), as
        far as they are kept. `output_stride`: 32, or 8 / 16 with fewer
        stages.

    Example:

    >>> import numpy as np
    >>> backbone = ResNetBackbone(depth=50, input_shape=(64, 64, 3))
    >>> backbone(np.zeros((2, 64, 64, 3), "float32")).shape
    TensorShape([2, 2, 2, 2048])
    >>> features = keras.Model(backbone.inputs, backbone.pyramid_outputs["P3"])

    Reference:
        He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
    """

    def __init__(
        self,
        depth=50,
        input_shape=(None, None, 3),
        weights=None,
        name=None,
        num_stages=4,
        **kwargs,
    ):
        if isinstance(num_stages, bool) or num_stages not in (1, 2, 3, 4):
            raise ValueError(f"`num_stages` must be 1, 2, 3 or 4; received num_stages={num_stages!r}.")
        if depth not in RESNET_DEPTHS:
            raise ValueError(
                f"`depth` must be one of {sorted(RESNET_DEPTHS)}; "
                f"received depth={depth!r}."
            )
        input_shape = self.image_input_shape(input_shape)

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="image")
        x = image_normalization()(inputs)
        x = _conv_bn(x, 64, 7, 2, name="conv1", bn_name="bn1")
        x = keras.layers.ReLU(name="relu")(x)
        # Zero padding equals PyTorch's -inf padding here: inputs are >= 0
        # after the ReLU and every window holds at least one real pixel.
        x = keras.layers.ZeroPadding2D(1, name="maxpool_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
        pyramid_outputs = {}
        for stage in range(1, num_stages + 1):
            x = residual_stage(x, depth, stage, name=f"layer{stage}")
            pyramid_outputs[f"P{stage + 1}"] = x
        stride = self.stride_for(num_stages=num_stages)
        default_name = f"resnet{depth}" + ("" if num_stages == 4 else f"_stride{stride}")
        super().__init__(
            inputs=inputs, outputs=x, input_shape=input_shape, name=name or default_name, **kwargs
        )

        # === Config ===
        self.depth = depth
        self.num_stages = num_stages
        self.output_stride = stride
        self.pyramid_outputs = pyramid_outputs
        self.load_pretrained(weights)

    @classmethod
    def stride_for(cls, num_stages=4, **config):
        """Output stride of a ResNet that keeps its first `num_stages` residual stages: 4, 8, 16 or 32."""
        return 4 * 2 ** (num_stages - 1)

    def _load_pretrained(self, weights):
        # "imagenet" or a torchvision .pth (that module names what else is allowed).
        load_resnet_weights(self, weights)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth, "num_stages": self.num_stages}

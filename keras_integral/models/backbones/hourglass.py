"""Stacked hourglass network (Newell et al., ECCV 2016) as a heat-map backbone.

Unlike the ResNets this backbone ends in heat maps: every stack predicts
`output_channels` logits at stride 4, and the pose model uses them with no
separate head (the paper's HG-H1 / HG-I1). Layers follow Newell's Torch
code: pre-activation bottleneck residuals (BN-ReLU-conv 1x1, 3x3, 1x1 with
half the channels inside), a stem that reaches stride 4, and between stacks
the intermediate prediction is re-injected:
`next = x + conv1x1(features) + conv1x1(heatmaps)`.

Example:

>>> import numpy as np
>>> from keras_integral.models.backbones import HourglassBackbone
>>> hg = HourglassBackbone(num_stacks=2, num_channels=32, output_channels=16,
...                        depth=2, input_shape=(64, 64, 3))
>>> [h.shape for h in hg(np.zeros((1, 64, 64, 3), "float32"))]
[TensorShape([1, 16, 16, 16]), TensorShape([1, 16, 16, 16])]
"""

import keras

from keras_integral.models.backbones.base import Backbone
from keras_integral.models.backbones.base import image_normalization

# Paper section 5: the hourglass is trained from scratch, initialised N(0, 0.001).
_STDDEV = 0.001
_BN_KWARGS = {"epsilon": 1e-5, "momentum": 0.9}


def _conv(filters, kernel_size, name, strides=1, padding="same"):
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        kernel_initializer=keras.initializers.RandomNormal(stddev=_STDDEV),
        name=name,
    )


def _bn_relu(x, name):
    x = keras.layers.BatchNormalization(**_BN_KWARGS, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _residual(x, filters, name):
    """Newell's pre-activation bottleneck residual module."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = _conv(filters, 1, name=f"{name}_skip")(x)
    y = _bn_relu(x, f"{name}_1")
    y = _conv(filters // 2, 1, name=f"{name}_1_conv")(y)
    y = _bn_relu(y, f"{name}_2")
    # Stride 1, odd kernel: "same" pads (1, 1) as PyTorch does.
    y = _conv(filters // 2, 3, name=f"{name}_2_conv")(y)
    y = _bn_relu(y, f"{name}_3")
    y = _conv(filters, 1, name=f"{name}_3_conv")(y)
    return keras.layers.Add(name=f"{name}_add")([y, shortcut])


def _hourglass(x, level, filters, name):
    """One recursive hourglass level: skip branch + pool/recurse/upsample."""
    up = _residual(x, filters, f"{name}_up")
    low = keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    low = _residual(low, filters, f"{name}_low1")
    if level > 1:
        low = _hourglass(low, level - 1, filters, f"{name}_inner")
    else:
        low = _residual(low, filters, f"{name}_low2")
    low = _residual(low, filters, f"{name}_low3")
    low = keras.layers.UpSampling2D(2, name=f"{name}_upsample")(low)
    return keras.layers.Add(name=f"{name}_merge")([up, low])


@keras.saving.register_keras_serializable(package="keras_integral")
class HourglassBackbone(Backbone):
    """Stacked hourglass: image -> one heat-map logit tensor per stack.

    Input is RGB in `[0, 255]`, normalised inside with the ImageNet
    statistics (`image_normalization`). The stem is conv 7x7/2 (explicit
    symmetric padding 3, as PyTorch) + BN + ReLU, residual to 128, max-pool
    2x2, residuals to `num_channels`; each stack is an hourglass of `depth`
    poolings, a residual, a 1x1 conv + BN + ReLU (`stack{i}_features`) and
    a 1x1 conv to the heat maps (`stack{i}_heatmaps`). All kernels start
    from N(0, 0.001) (paper, section 5). Layer names start with `stem_`
    or `stack{i}_`.

    Args:
        num_stacks: int >= 1. Number of hourglasses. Defaults to `2`.
        num_channels: even int. Feature channels inside the stacks.
            Defaults to `256`.
        output_channels: int. Heat-map channels per stack (joints, or
            `depth_bins * joints` for 3D). Defaults to `17`.
        depth: int >= 1. Poolings per hourglass (Newell: 4). Defaults to `4`.
        input_shape: `(height, width, 3)`. Height and width must be
            multiples of `4 * 2**depth` (checked when given). Defaults to
            `(None, None, 3)`.
        weights: None, or a local `.weights.h5` file to load (not stored in
            the config).
        name: model name. Defaults to `"hourglass{num_stacks}"`.
        **kwargs: passed to `keras.Model`.

    Input shape:
        `(batch, height, width, 3)`, RGB in `[0, 255]`.

    Output shape:
        A list of `num_stacks` tensors `(batch, height / 4, width / 4,
        output_channels)`, raw logits; the last one is the final
        prediction, all of them are supervised (`returns_heatmaps`,
        `output_stride` 4).

    Example:

    >>> import numpy as np
    >>> hg = HourglassBackbone(num_stacks=1, num_channels=32, depth=2)
    >>> hg(np.zeros((1, 64, 64, 3), "float32"))[-1].shape
    TensorShape([1, 16, 16, 17])

    Reference:
        Newell, Yang, Deng, "Stacked Hourglass Networks for Human Pose
        Estimation", ECCV 2016.
    """

    # The stem's conv 7x7/2 and max-pool 2x2; every hourglass returns to that resolution.
    output_stride = 4
    returns_heatmaps = True

    def __init__(
        self,
        num_stacks=2,
        num_channels=256,
        output_channels=17,
        depth=4,
        input_shape=(None, None, 3),
        weights=None,
        name=None,
        **kwargs,
    ):
        for arg, value in (
            ("num_stacks", num_stacks),
            ("num_channels", num_channels),
            ("output_channels", output_channels),
            ("depth", depth),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"`{arg}` must be a positive int; received {arg}={value!r}."
                )
        if num_channels % 2:
            raise ValueError(
                "`num_channels` must be even (residuals use half of it "
                f"inside); received num_channels={num_channels}."
            )
        input_shape = self.image_input_shape(input_shape)
        multiple = self.output_stride * 2**depth
        for size in input_shape[:2]:
            if size is not None and size % multiple:
                raise ValueError(
                    f"`input_shape` height and width must be multiples of "
                    f"4 * 2**depth = {multiple} (depth={depth}); "
                    f"received input_shape={input_shape!r}."
                )

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="image")
        x = image_normalization()(inputs)
        x = keras.layers.ZeroPadding2D(3, name="stem_conv_pad")(x)
        x = _conv(64, 7, name="stem_conv", strides=2, padding="valid")(x)
        x = _bn_relu(x, "stem")
        x = _residual(x, 128, "stem_res1")
        x = keras.layers.MaxPooling2D(2, name="stem_pool")(x)
        x = _residual(x, 128, "stem_res2")
        x = _residual(x, num_channels, "stem_res3")
        outputs = []
        for s in range(num_stacks):
            name_s = f"stack{s}"
            y = _hourglass(x, depth, num_channels, f"{name_s}_hg")
            y = _residual(y, num_channels, f"{name_s}_res")
            y = _conv(num_channels, 1, name=f"{name_s}_features_conv")(y)
            features = _bn_relu(y, f"{name_s}_features")
            heatmaps = _conv(output_channels, 1, name=f"{name_s}_heatmaps")(features)
            outputs.append(heatmaps)
            if s < num_stacks - 1:
                x = keras.layers.Add(name=f"{name_s}_reinject")(
                    [
                        x,
                        _conv(num_channels, 1, name=f"{name_s}_features_remap")(
                            features
                        ),
                        _conv(num_channels, 1, name=f"{name_s}_heatmaps_remap")(
                            heatmaps
                        ),
                    ]
                )
        super().__init__(
            inputs=inputs,
            outputs=outputs,
            input_shape=input_shape,
            name=name or f"hourglass{num_stacks}",
            **kwargs,
        )

        # === Config ===
        self.num_stacks = num_stacks
        self.num_channels = num_channels
        self.output_channels = output_channels
        self.depth = depth
        self.load_pretrained(weights)

    def call(self, inputs, training=None, mask=None):
        outputs = super().call(inputs, training=training, mask=mask)
        # Functional models unpack a one-element output list when run
        # eagerly (not symbolically); keep one list entry per stack always.
        return outputs if isinstance(outputs, list) else [outputs]

    def get_config(self):
        return {
            **super().get_config(),
            "num_stacks": self.num_stacks,
            "num_channels": self.num_channels,
            "output_channels": self.output_channels,
            "depth": self.depth,
        }

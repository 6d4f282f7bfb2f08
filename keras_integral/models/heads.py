"""Heads that map backbone features to heat maps (`DeconvHead`) or joints (`RegressionHead`).

Heads are graph only: no loss, metric or decoding lives here. The pose model
turns heat maps into keypoints (integral or argmax) and the losses are given
to `compile`.

Example:

>>> import numpy as np
>>> head = DeconvHead(out_channels=17)
>>> head(np.zeros((1, 8, 8, 2048), "float32")).shape
TensorShape([1, 64, 64, 17])
>>> RegressionHead(num_joints=17)(np.zeros((1, 8, 8, 2048), "float32")).shape
TensorShape([1, 17, 2])
"""

import keras

# Paper section 5 and the authors' code: N(0, 0.001) for head kernels.
_HEAD_STDDEV = 0.001


@keras.saving.register_keras_serializable(package="keras_integral")
class DeconvHead(keras.layers.Layer):
    """Heat-map head: n x [4x4 deconv stride 2, BN, ReLU] then a conv to `out_channels`.

    Each deconv layer doubles the resolution: with stride-32 features, 3
    layers give stride-4 heat maps (64x64 for a 256x256 input, the
    default of the paper's text and the authors' code) and 2 layers give
    stride 8 (32x32, the paper's Table 2 setting (b)). The deconvolution
    is `Conv2DTranspose(filters, 4, strides=2, padding="same")`, which
    equals PyTorch's `ConvTranspose2d(k=4, stride=2, padding=1)`
    (symmetric padding, output `2 * input`); a PyTorch kernel
    `(in, out, kh, kw)` imports as `kernel.transpose(2, 3, 1, 0)`, no
    spatial flip. Deconv and final-conv kernels start from N(0, 0.001),
    the final bias from 0, BN from gamma 1, beta 0 (authors' code).

    Sublayers (stable names for weight porting): `head_deconv_{i}`,
    `head_bn_{i}`, `head_relu_{i}` for `i < num_deconv`, and
    `head_final_conv`.

    Args:
        out_channels: int. Channels of the last conv: `joints` for 2D heat
            maps, `depth * joints` for 3D volumes (channel
            `c = d * joints + k`, see DESIGN.md).
        num_deconv: int >= 0. Number of upsampling layers. Defaults to `3`.
        filters: int. Channels of each deconv layer. Defaults to `256`.
        kernel_size: int, 2 or 4. Deconv kernel size; odd sizes would need
            PyTorch's `output_padding`, which "same" cannot express
            symmetrically. Defaults to `4`.
        final_kernel_size: odd int. Kernel of the last conv ("same"
            padding). Defaults to `1`.
        name: layer name. Defaults to `"head"`.
        **kwargs: passed to `keras.layers.Layer`.

    Input shape:
        `(batch, h, w, channels)` backbone features.

    Output shape:
        `(batch, h * 2**num_deconv, w * 2**num_deconv, out_channels)` raw
        logits (no activation).

    Example:

    >>> import numpy as np
    >>> head = DeconvHead(out_channels=16, num_deconv=2)
    >>> head(np.zeros((2, 8, 8, 512), "float32")).shape
    TensorShape([2, 32, 32, 16])

    Reference:
        Xiao et al., "Simple Baselines for Human Pose Estimation and
        Tracking", ECCV 2018; Sun et al., ECCV 2018, section 5.
    """

    def __init__(
        self,
        out_channels,
        num_deconv=3,
        filters=256,
        kernel_size=4,
        final_kernel_size=1,
        name="head",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        _check_positive_int("out_channels", out_channels)
        _check_positive_int("filters", filters)
        if not isinstance(num_deconv, int) or num_deconv < 0:
            raise ValueError(
                f"`num_deconv` must be an int >= 0; received num_deconv={num_deconv!r}."
            )
        if kernel_size not in (2, 4):
            raise ValueError(
                "`kernel_size` must be 2 or 4 (a stride-2 deconv whose 'same' "
                f"padding is symmetric, as in PyTorch); received kernel_size={kernel_size!r}."
            )
        if not isinstance(final_kernel_size, int) or final_kernel_size % 2 != 1:
            raise ValueError(
                "`final_kernel_size` must be an odd int (symmetric 'same' padding); "
                f"received final_kernel_size={final_kernel_size!r}."
            )
        self.out_channels = out_channels
        self.num_deconv = num_deconv
        self.filters = filters
        self.kernel_size = kernel_size
        self.final_kernel_size = final_kernel_size

        init = keras.initializers.RandomNormal(stddev=_HEAD_STDDEV)
        self.deconvs, self.norms, self.relus = [], [], []
        for i in range(num_deconv):
            self.deconvs.append(
                keras.layers.Conv2DTranspose(
                    filters,
                    kernel_size,
                    strides=2,
                    padding="same",
                    use_bias=False,
                    kernel_initializer=init,
                    name=f"head_deconv_{i}",
                )
            )
            self.norms.append(
                keras.layers.BatchNormalization(
                    epsilon=1e-5, momentum=0.9, name=f"head_bn_{i}"
                )
            )
            self.relus.append(keras.layers.ReLU(name=f"head_relu_{i}"))
        self.final_conv = keras.layers.Conv2D(
            out_channels,
            final_kernel_size,
            padding="same",
            kernel_initializer=init,
            bias_initializer="zeros",
            name="head_final_conv",
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for deconv, norm in zip(self.deconvs, self.norms):
            deconv.build(shape)
            shape = deconv.compute_output_shape(shape)
            norm.build(shape)
        self.final_conv.build(shape)

    def call(self, inputs, training=None):
        x = inputs
        for deconv, norm, relu in zip(self.deconvs, self.norms, self.relus):
            x = relu(norm(deconv(x), training=training))
        return self.final_conv(x)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        scale = 2**self.num_deconv
        return (
            batch,
            None if height is None else height * scale,
            None if width is None else width * scale,
            self.out_channels,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "out_channels": self.out_channels,
                "num_deconv": self.num_deconv,
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "final_kernel_size": self.final_kernel_size,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_integral")
class RegressionHead(keras.layers.Layer):
    """Direct regression head (the paper's R1): global average pool + fc.

    Sublayers: `head_pool` (GlobalAveragePooling2D) and `head_fc`
    (Dense with `num_joints * dims` units, kernel N(0, 0.001), bias 0);
    the fc output is reshaped to one row per joint. The values are raw;
    the pose model decides their units (normalised crop coordinates).

    Args:
        num_joints: int. Number of joints `K`.
        dims: int, 2 or 3. Coordinates per joint. Defaults to `2`.
        name: layer name. Defaults to `"head"`.
        **kwargs: passed to `keras.layers.Layer`.

    Input shape:
        `(batch, h, w, channels)` backbone features.

    Output shape:
        `(batch, num_joints, dims)`.

    Example:

    >>> import numpy as np
    >>> RegressionHead(num_joints=17, dims=3)(np.zeros((2, 8, 8, 512), "float32")).shape
    TensorShape([2, 17, 3])

    Reference:
        Sun et al., "Integral Human Pose Regression", ECCV 2018, section 5
        (regression baseline R1).
    """

    def __init__(self, num_joints, dims=2, name="head", **kwargs):
        super().__init__(name=name, **kwargs)
        _check_positive_int("num_joints", num_joints)
        if dims not in (2, 3):
            raise ValueError(f"`dims` must be 2 or 3; received dims={dims!r}.")
        self.num_joints = num_joints
        self.dims = dims
        self.pool = keras.layers.GlobalAveragePooling2D(name="head_pool")
        self.fc = keras.layers.Dense(
            num_joints * dims,
            kernel_initializer=keras.initializers.RandomNormal(stddev=_HEAD_STDDEV),
            bias_initializer="zeros",
            name="head_fc",
        )

    def build(self, input_shape):
        self.fc.build(self.pool.compute_output_shape(tuple(input_shape)))

    def call(self, inputs):
        x = self.fc(self.pool(inputs))
        return keras.ops.reshape(x, (-1, self.num_joints, self.dims))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_joints, self.dims)

    def get_config(self):
        config = super().get_config()
        config.update({"num_joints": self.num_joints, "dims": self.dims})
        return config


def _check_positive_int(arg, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{arg}` must be a positive int; received {arg}={value!r}.")

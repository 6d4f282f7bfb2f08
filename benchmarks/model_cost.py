"""Parameters and FLOPs of ResNet-18/50/101 + deconv head, next to the paper's Table 3.

Counts (no timing, so any machine gives the same numbers):
- Parameters: trainable weights, i.e. torchvision's convention (BN running
  mean/variance are buffers, not parameters).
- MACs: a manual count over the layers, multiply-accumulates of
  convolutions, transposed convolutions and dense layers only:
  conv `out_h * out_w * c_out * k_h * k_w * c_in`, transposed conv
  `in_h * in_w * c_in * k_h * k_w * c_out` (every input pixel scatters a
  k x k x c_out patch). BN, ReLU, additions and pooling are left out, as in
  the usual "FLOPs" tables (torchvision's GFLOPS, the paper's Table 2/3),
  which are multiply-adds.
- Cross-check: TensorFlow's own profiler (`tf.compat.v1.profiler`,
  float_operation) on the frozen inference graph, which counts 2 FLOPs per
  multiply-add; its column should read 2x ours (skip it with
  `--no-profiler`).

Usage:
    python benchmarks/model_cost.py                  # 256x256 input, 17 joints
    python benchmarks/model_cost.py --input-size 128 --no-profiler
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_integral.models.backbones import ResNetBackbone  # noqa: E402
from keras_integral.models.heads import DeconvHead  # noqa: E402

# Paper, Table 3 (MPII, 256x256 input): depth -> (params, "FLOPs").
PAPER_TABLE3 = {18: (12e6, 2.8e9), 50: (26e6, 6.2e9), 101: (45e6, 11.0e9)}
IMAGENET_CLASSES = 1000
# The layers with multiply-adds; everything else counts 0.
COUNTED_LAYERS = (
    keras.layers.Conv2D,
    keras.layers.Conv2DTranspose,
    keras.layers.DepthwiseConv2D,
    keras.layers.Dense,
)


def layer_macs(layer, input_shape, output_shape):
    """Multiply-accumulates of one layer for one image (0 for non-linear layers).

    Args:
        layer: a Keras layer.
        input_shape: `(batch, h, w, c)` or `(batch, c)` input shape.
        output_shape: the layer's output shape, same rank.

    Returns:
        int, multiply-accumulates.

    Example:
        >>> conv = keras.layers.Conv2D(8, 3, padding="same")
        >>> conv.build((None, 4, 4, 2))
        >>> layer_macs(conv, (None, 4, 4, 2), (None, 4, 4, 8))  # 16 * 8 * 9 * 2
        2304
    """
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw, _, multiplier = layer.kernel.shape
        return int(np.prod(output_shape[1:3])) * input_shape[-1] * multiplier * kh * kw
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kh, kw, c_out, c_in = layer.kernel.shape
        return int(np.prod(input_shape[1:3])) * c_in * kh * kw * c_out
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, c_in_per_group, c_out = layer.kernel.shape
        return int(np.prod(output_shape[1:3])) * c_out * kh * kw * c_in_per_group
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(output_shape[1:-1], dtype=np.int64)) * int(np.prod(layer.kernel.shape))
    return 0


def backbone_macs(backbone):
    """MACs of a functional backbone built with a static input shape."""
    return sum(
        layer_macs(layer, layer.input.shape, layer.output.shape)
        for layer in backbone.layers
        if isinstance(layer, COUNTED_LAYERS)
    )


def head_macs(head, input_shape):
    """MACs of a built `DeconvHead`, following its sublayers' shapes."""
    total, shape = 0, tuple(input_shape)
    for layer in [*head.deconvs, head.final_conv]:
        out_shape = layer.compute_output_shape(shape)
        total += layer_macs(layer, shape, out_shape)
        shape = out_shape
    return total


def profiler_flops(model, input_size):
    """Float operations by TF's profiler on the frozen graph, batch 1."""
    from tensorflow.python.framework import convert_to_constants

    @tf.autograph.experimental.do_not_convert
    def forward(x):
        return model(x, training=False)

    spec = tf.TensorSpec([1, input_size, input_size, 3], tf.float32)
    concrete = tf.function(forward).get_concrete_function(spec)
    frozen = convert_to_constants.convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(
        graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
    )
    return profile.total_float_ops


def params(layer):
    return sum(int(np.prod(w.shape)) for w in layer.trainable_weights)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--joints", type=int, default=17)
    parser.add_argument("--no-profiler", action="store_true")
    args = parser.parse_args()
    tf.get_logger().setLevel("ERROR")
    size = args.input_size

    header = (
        f"{'model':<28}{'heat map':>9}{'params':>9}{'paper':>7}{'ratio':>7}"
        f"{'GMACs':>8}{'paper G':>8}{'ratio':>7}"
        + ("" if args.no_profiler else f"{'TF prof GFLOPs':>16}{'/ GMACs':>9}")
    )
    print(f"ResNet + DeconvHead({args.joints}), {size}x{size} input, batch 1")
    print(header)
    print("-" * len(header))
    for depth, (paper_params, paper_flops) in PAPER_TABLE3.items():
        backbone = ResNetBackbone(depth=depth, input_shape=(size, size, 3))
        features = backbone.output.shape
        classifier_params = params(backbone) + features[-1] * IMAGENET_CLASSES + IMAGENET_CLASSES
        for num_deconv in (3, 2):
            head = DeconvHead(args.joints, num_deconv=num_deconv)
            head.build(features)
            n_params = params(backbone) + params(head)
            macs = backbone_macs(backbone) + head_macs(head, features)
            heat = features[1] * 2**num_deconv
            row = (
                f"{f'resnet{depth} + {num_deconv} deconv':<28}{f'{heat}x{heat}':>9}"
                f"{n_params / 1e6:>8.1f}M{paper_params / 1e6:>6.0f}M"
                f"{n_params / paper_params:>7.2f}"
                f"{macs / 1e9:>8.2f}{paper_flops / 1e9:>8.1f}{macs / paper_flops:>7.2f}"
            )
            if not args.no_profiler:
                inputs = keras.Input((size, size, 3))
                flops = profiler_flops(keras.Model(inputs, head(backbone(inputs))), size)
                row += f"{flops / 1e9:>16.2f}{flops / macs:>9.2f}"
            print(row)
        print(
            f"{f'resnet{depth} ImageNet classifier':<28}{'-':>9}"
            f"{classifier_params / 1e6:>8.1f}M{paper_params / 1e6:>6.0f}M"
            f"{classifier_params / paper_params:>7.2f}   (backbone + {features[-1]}x1000 fc)"
        )
    if size != 256:
        print("\nThe paper's columns are for 256x256 inputs; the ratios above do not compare.")
        return
    print(
        "\nNotes:\n"
        "- Paper 'FLOPs' are multiply-adds (GMACs here): the 2-deconv rows (32x32 heat\n"
        "  maps, Table 2 setting (b), 'used in all other experiments') match Table 3;\n"
        "  the 3-deconv rows (64x64) match Table 2 (a) (7.3G for ResNet-50).\n"
        "  Counting 2 FLOPs per multiply-add, as TF's profiler does, doubles them.\n"
        "- Paper 'params' match the ImageNet classifiers (backbone + fc), not\n"
        "  backbone + head: the deconv head adds 3-10M parameters the table leaves out."
    )


if __name__ == "__main__":
    main()

"""Time of the integral layers against the heat-map head that feeds them, as a ratio in one run.

The paper claims the integral adds "negligible overhead". At its sizes
(ResNet-50 features 8x8x2048 at 256x256 input; 3 deconvolutions to 64x64; 17
joints; 64 depth bins for 3D) this times, with the same batch in the same
process:

- the deconvolution head (`DeconvHead`), features -> heat maps;
- the integral layer on those heat maps (`IntegralRegression2D`,
  `IntegralRegression3D`, `MarginalIntegral3D`);
- for reference, the arg-max decoding of the heat-map baselines.

Usage:

    python benchmarks/integral.py [--batch 8] [--runs 20]

Prints medians in ms and the integral / head ratio.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_integral.layers import HeatmapArgmax  # noqa: E402
from keras_integral.layers import IntegralRegression2D  # noqa: E402
from keras_integral.layers import IntegralRegression3D  # noqa: E402
from keras_integral.layers import MarginalIntegral3D  # noqa: E402
from keras_integral.models.heads import DeconvHead  # noqa: E402

JOINTS, DEPTH = 17, 64


def median_ms(fn, x, runs):
    fn(x)  # trace and warm up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = fn(x)
        for t in tf.nest.flatten(out):
            t.numpy()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    features = tf.random.normal((args.batch, 8, 8, 2048))
    rows = []
    for name, channels, layers in (
        ("2D  64x64x17", JOINTS, [("IntegralRegression2D", IntegralRegression2D()),
                                  ("HeatmapArgmax (H1 decoding)", HeatmapArgmax())]),
        ("3D  64x64x64x17", JOINTS * DEPTH, [("IntegralRegression3D", IntegralRegression3D()),
                                             ("MarginalIntegral3D", MarginalIntegral3D())]),
    ):
        head = DeconvHead(channels, num_deconv=3)
        head_fn = tf.function(lambda x, head=head: head(x, training=False))
        head_ms = median_ms(head_fn, features, args.runs)
        maps = head_fn(features)
        if channels != JOINTS:
            maps = tf.reshape(maps, (args.batch, 64, 64, DEPTH, JOINTS))
        rows.append((name, "DeconvHead (3 deconv + 1x1 conv)", head_ms, None))
        for label, layer in layers:
            ms = median_ms(tf.function(lambda m, layer=layer: layer(m)), maps, args.runs)
            rows.append((name, label, ms, ms / head_ms))

    print(f"batch {args.batch}, median of {args.runs} runs, {os.cpu_count()} CPU threads available")
    print(f"{'size':<17}{'stage':<36}{'ms':>10}{'/ head':>10}")
    for size, stage, ms, ratio in rows:
        print(f"{size:<17}{stage:<36}{ms:>10.2f}{'' if ratio is None else f'{ratio:>10.3f}'}")


if __name__ == "__main__":
    main()

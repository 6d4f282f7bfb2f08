"""Training throughput of candidate demo models on this CPU, measured in one run (ratios).

    python benchmarks/demo_candidates.py

Each candidate is an `IntegralPoseModel` (I1, COCO joints, 64x64 crops) timed
over `--steps` train steps on fixed random batches, after two warm-up steps,
with all cores; then the chosen one is timed as two trainings at once, one
process and one core each (as the demo trains I1 and H1), against one after
the other with all cores. Prints crops per second and the ratio to the
previous demo model (ResNet-18, 256-filter head, float32, batch 32).
"""

import argparse
import json
import multiprocessing
import sys
import time

# (label, backbone, head filters, heat map side, dtype policy, batch)
CANDIDATES = (
    ("resnet18, head 256, float32, batch 32 (previous demo)", "resnet18", 256, 16, "float32", 32),
    ("resnet18, head 256, bfloat16, batch 32", "resnet18", 256, 16, "mixed_bfloat16", 32),
    ("resnet18, head 64, bfloat16, batch 32", "resnet18", 64, 16, "mixed_bfloat16", 32),
    ("resnet18_stride16, head 128, bfloat16, batch 32", "resnet18_stride16", 128, 16, "mixed_bfloat16", 32),
    ("resnet18_stride8, head 128, float32, batch 32", "resnet18_stride8", 128, 16, "float32", 32),
    ("resnet18_stride8, head 128, bfloat16, batch 32", "resnet18_stride8", 128, 16, "mixed_bfloat16", 32),
    ("resnet18_stride8, head 128, bfloat16, batch 16 (demo)", "resnet18_stride8", 128, 16, "mixed_bfloat16", 16),
    ("resnet18_stride8, head 64, bfloat16, batch 16", "resnet18_stride8", 64, 16, "mixed_bfloat16", 16),
    ("mobilenetv3_small, head 64, bfloat16, batch 32", "mobilenetv3_small", 64, 16, "mixed_bfloat16", 32),
)
DEMO = 6  # the index of the demo's candidate


def crops_per_second(candidate, steps, threads=None):
    """Train-step throughput of one candidate (crops per second)."""
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras
    import numpy as np

    from keras_integral.models.pose_model import IntegralPoseModel

    _, backbone, filters, side, policy, batch = candidate
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = IntegralPoseModel(backbone=backbone, method="I1", skeleton="coco", input_size=(64, 64),
                                  heatmap_size=(side, side), head_filters=filters)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    model.compile()
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, 64, 64, 3)).astype("float32")
    targets = {"keypoints": rng.uniform(0, 63, (batch, 17, 2)).astype("float32"),
               "weights": np.ones((batch, 17, 2), "float32")}
    for _ in range(2):
        model.train_on_batch(images, targets)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, targets)
    return steps * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")  # each measurement in a fresh TensorFlow
    rates = []
    for candidate in CANDIDATES:
        with context.Pool(1) as pool:
            rates.append(pool.apply(crops_per_second, (candidate, args.steps)))
        print(f"{candidate[0]:<56} {rates[-1]:7.1f} crops/s  {rates[-1] / rates[0]:5.2f}x", flush=True)
    demo = CANDIDATES[DEMO]
    with context.Pool(2) as pool:
        jobs = [pool.apply_async(crops_per_second, (demo, 2 * args.steps, 1)) for _ in range(2)]
        parallel = sum(job.get() for job in jobs)
    print(f"{'the demo model, two trainings at once, 1 core each':<56} {parallel:7.1f} crops/s  "
          f"{parallel / rates[DEMO]:5.2f}x of one training with all cores", flush=True)
    print(json.dumps({"crops_per_s": dict(zip((c[0] for c in CANDIDATES), rates)), "parallel_two": parallel}))


if __name__ == "__main__":
    sys.exit(main())

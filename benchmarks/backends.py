"""One training step of the demo's model under each Keras backend (TensorFlow, JAX, PyTorch), on this machine.

Each backend runs in its own child process (a process's backend is fixed when
Keras is imported), one after another, so they do not share the cores. The
model is the demo's (`demo.demo_recipe("I1", ...)`: ResNet-18 at stride 8,
64x64 crops, 16x16 maps, batch 16), in the demo's mixed bfloat16 and in
float32; the step is `train_on_batch` on a fixed batch, timed after warm-up
steps (which include each backend's tracing and compilation), median of the
timed steps. Printed: milliseconds per step and the ratio to TensorFlow's,
from this one run.

Usage:
    python benchmarks/backends.py                 # all three backends, both precisions
    python benchmarks/backends.py --steps 10 --backends tensorflow jax
"""

import argparse
import json
import os
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
PRECISIONS = ("bfloat16", "float32")


def child(precision, warmup, steps):
    """Runs in the child: builds and times the model; prints one JSON line."""
    import keras
    import numpy as np

    from keras_integral.demo import demo_recipe
    from keras_integral.training import build_model

    recipe = demo_recipe("I1", epochs=10, steps_per_epoch=400)
    if precision != "float32":
        keras.mixed_precision.set_dtype_policy(f"mixed_{precision}")
    keras.utils.set_random_seed(0)
    model = build_model(recipe)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(0)
    batch = recipe.batch_size
    images = rng.uniform(0, 255, size=(batch, *recipe.input_size, 3)).astype("float32")
    y = {"keypoints": rng.uniform(4, 60, size=(batch, 17, 2)).astype("float32"),
         "weights": np.ones((batch, 17, 2), "float32")}
    start = time.perf_counter()
    for _ in range(warmup):
        loss = model.train_on_batch(images, y, return_dict=True)["loss"]
    warmup_s = time.perf_counter() - start
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        loss = model.train_on_batch(images, y, return_dict=True)["loss"]
        times.append(time.perf_counter() - t)
    print(json.dumps({"backend": keras.backend.backend(), "precision": precision, "warmup_s": warmup_s,
                      "step_ms": 1000 * float(np.median(times)), "loss": float(loss)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.warmup, args.steps)
    rows = []
    for precision in args.precisions:
        for backend in args.backends:
            done = subprocess.run(
                [sys.executable, __file__, "--child", precision, "--warmup", str(args.warmup), "--steps",
                 str(args.steps)], env=dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3"),
                capture_output=True, text=True)
            if done.returncode:
                print(f"{backend} {precision}: failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{os.cpu_count()} CPU cores; median of {args.steps} train_on_batch steps after {args.warmup} warm-up "
          "steps (batch 16, 64x64).\n")
    print("| precision | backend | ms / step | vs TensorFlow | warm-up s (incl. compile) |")
    print("|---|---|---|---|---|")
    for row in rows:
        base = next((r["step_ms"] for r in rows if r["precision"] == row["precision"]
                     and r["backend"] == "tensorflow"), None)
        ratio = f"{row['step_ms'] / base:.2f}x" if base else "n/a"
        print(f"| {row['precision']} | {row['backend']} | {row['step_ms']:.1f} | {ratio} | {row['warmup_s']:.1f} |")


if __name__ == "__main__":
    main()

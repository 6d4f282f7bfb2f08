#!/usr/bin/env python
"""Latency of exported pose models next to Keras and next to a peer model (MediaPipe BlazePose), in one run.

Each artifact runs at batch 1 with 1 and 2 CPU threads (LiteRT with XNNPACK,
onnxruntime; Keras and the SavedModel in a child process each, since
TensorFlow fixes its thread pools at start-up). A latency is the median of
`--runs` timed calls after 5 warm-up calls, and the printed number the median
over `--passes` passes, the artifacts interleaved within each pass so a busy
machine slows them alike. Ratios compare with Keras and with the peer at the
same thread count (below 1 = faster). Machines are noisy: compare numbers
only within one run.

Usage:

    # random-weight models built and exported here (needs keras_integral):
    python benchmarks/export_latency.py --build resnet18:I1:128 --build mobilenetv3_large:I1:128
    # artifacts already exported (LiteRT / onnxruntime only; a `model.keras`
    # next to them adds the Keras row, needs keras_integral):
    python benchmarks/export_latency.py --export-dir exported/

A `--build` spec is `backbone:method:size[:head_filters]` (head filters
default to the paper's 256); its artifacts are exported with
`keras_integral.export.export` (calibrated on noise, parity not enforced:
random weights are fine for latency, not for accuracy).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PEER = os.path.join(REPO, "..", "shared", "peers", "pose_landmark_full.tflite")
WARMUP = 5


def time_call(call, runs):
    """Median wall time of `call()` in ms, after `WARMUP` untimed calls."""
    for _ in range(WARMUP):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def litert_call(path, threads, high=255.0):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    data = np.random.default_rng(0).uniform(0, high, detail["shape"]).astype(detail["dtype"])

    def call():
        interpreter.set_tensor(detail["index"], data)
        interpreter.invoke()

    return call


def onnx_call(path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    shape = [1 if not isinstance(d, int) else d for d in session.get_inputs()[0].shape]
    data = {"images": np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)}
    return lambda: session.run(None, data)


def tf_child(kind, path, threads, runs, passes):
    """Runs in a child process: latency of a Keras model or SavedModel with `threads` TF threads."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if kind == "keras":
        import keras

        import keras_integral.models  # noqa: F401 (registers the model class for loading)

        model = keras.models.load_model(path)
        # What model.predict compiles for each batch, without its Python loop.
        serve = tf.function(model.predict_step, jit_compile=False)
        height, width = model.input_size
    else:
        serve_fn = tf.saved_model.load(path).signatures["serving_default"]
        height, width = serve_fn.structured_input_signature[1]["images"].shape[1:3]
        serve = lambda images: serve_fn(images=images)  # noqa: E731
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, height, width, 3)).astype(np.float32))
    call = lambda: [t.numpy() for t in tf.nest.flatten(serve(images))]  # noqa: E731
    return float(np.median([time_call(call, runs) for _ in range(passes)]))


def tf_latency(kind, path, threads, runs, passes):
    command = [sys.executable, os.path.abspath(__file__), "--tf-child", kind, path, "--threads", str(threads),
               "--runs", str(runs), "--passes", str(passes)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"timing {kind} {path} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["ms"]


def build_and_export(spec, out_root):
    """`backbone:method:size[:head_filters]` -> export directory with model.keras and every artifact."""
    import keras

    from keras_integral import export as export_lib
    from keras_integral.models.pose_model import IntegralPoseModel

    try:
        backbone, method, size, *filters = spec.split(":")
        size, filters = int(size), [int(f) for f in filters]
        if len(filters) > 1:
            raise ValueError
    except ValueError:
        raise SystemExit(f"--build expects backbone:method:size[:head_filters] (e.g. resnet18:I1:128), "
                         f"got {spec!r}.") from None
    model = IntegralPoseModel(backbone=backbone, method=method, skeleton="coco", input_size=(size, size),
                              head_filters=filters[0] if filters else 256)
    out_dir = os.path.join(out_root, spec.replace(":", "_").replace("*", "star"))
    noise = np.random.default_rng(0).uniform(0, 255, (8, size, size, 3)).astype(np.float32)
    print(f"exporting {spec} ...", file=sys.stderr, flush=True)
    export_lib.export(model, out_dir, formats=("saved_model", "tflite", "onnx"), representative_data=noise,
                      allow_parity_loss=True)
    keras.saving.save_model(model, os.path.join(out_dir, "model.keras"))
    return out_dir


def artifacts_of(export_dir):
    """[(label, kind, path)] of the artifacts in an export directory, Keras first."""
    found = []
    if os.path.isfile(os.path.join(export_dir, "model.keras")):
        found.append(("keras", "keras", os.path.join(export_dir, "model.keras")))
    if os.path.isdir(os.path.join(export_dir, "saved_model")):
        found.append(("saved_model", "saved_model", os.path.join(export_dir, "saved_model")))
    for path in sorted(glob.glob(os.path.join(export_dir, "model_*.tflite")), key=_quantization_order):
        found.append((f"tflite_{_quantization(path)}", "litert", path))
    if os.path.isfile(os.path.join(export_dir, "model.onnx")):
        found.append(("onnx", "onnx", os.path.join(export_dir, "model.onnx")))
    return found


def _quantization(path):
    return os.path.basename(path)[len("model_") : -len(".tflite")]


def _quantization_order(path):
    order = ["fp32", "fp16", "int8"]
    return order.index(_quantization(path)) if _quantization(path) in order else len(order)


def model_name(export_dir):
    manifest = os.path.join(export_dir, "manifest.json")
    if not os.path.isfile(manifest):
        return os.path.basename(os.path.normpath(export_dir))
    with open(manifest) as f:
        m = json.load(f)
    h, w = m["input"]["shape"][1:3]
    filters = m["model"]["config"].get("head_filters", 256)
    return f"{m['model']['name']} {h}x{w}" + (f" head {filters}" if filters != 256 else "")


def measure(rows, threads, runs, passes):
    """{(row index, threads): ms}; in-process runtimes interleaved within each pass."""
    calls, results = {}, {}
    for i, (_, _, kind, path) in enumerate(rows):
        for n in threads:
            if kind in ("keras", "saved_model"):
                results[(i, n)] = tf_latency(kind, path, n, runs, passes)
            elif kind == "onnx":
                calls[(i, n)] = onnx_call(path, n)
            else:  # the peer takes RGB in [0, 1], our models [0, 255]
                calls[(i, n)] = litert_call(path, n, high=1.0 if kind == "peer" else 255.0)
    samples = {key: [] for key in calls}
    for _ in range(passes):
        for key, call in calls.items():
            samples[key].append(time_call(call, runs))
    results.update({key: float(np.median(v)) for key, v in samples.items()})
    return results


def table(rows, results, threads):
    """The latency table: ms per thread count, then the ratios to Keras and to the peer."""
    keras_row = {model: i for i, (model, label, _, _) in enumerate(rows) if label == "keras"}
    peer_row = next((i for i, r in enumerate(rows) if r[0] == "peer"), None)
    header = ["model", "artifact"] + [f"{n} thr ms" for n in threads] + [f"/keras {n} thr" for n in threads]
    if peer_row is not None:
        header += [f"/peer {n} thr" for n in threads]
    lines = [header]
    for i, (model, label, _, _) in enumerate(rows):
        cells = [model, label] + [f"{results[(i, n)]:.1f}" for n in threads]
        k = keras_row.get(model)
        cells += [f"{results[(i, n)] / results[(k, n)]:.2f}" if k is not None else "-" for n in threads]
        if peer_row is not None:
            cells += [f"{results[(i, n)] / results[(peer_row, n)]:.2f}" for n in threads]
        lines.append(cells)
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in
                               enumerate(zip(line, widths))) for line in lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-dir", action="append", default=[], help="an export directory; repeatable")
    parser.add_argument("--build", action="append", default=[], metavar="BACKBONE:METHOD:SIZE[:FILTERS]",
                        help="build a random-weight model and export it (needs keras_integral); repeatable")
    parser.add_argument("--peer", default=DEFAULT_PEER, help="peer .tflite (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per latency")
    parser.add_argument("--passes", type=int, default=3, help="passes; the median over them is printed")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts")
    parser.add_argument("--tf-child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tf_child:
        ms = tf_child(*args.tf_child, args.threads[0], args.runs, args.passes)
        print(json.dumps({"ms": ms}))
        return 0
    if not args.export_dir and not args.build:
        parser.error("give --export-dir and/or --build.")

    with tempfile.TemporaryDirectory() as tmp:
        dirs = list(args.export_dir) + [build_and_export(spec, tmp) for spec in args.build]
        names = [model_name(d) for d in dirs]
        names = [n if names.count(n) == 1 else f"{n} ({os.path.basename(os.path.normpath(d))})"
                 for n, d in zip(names, dirs)]
        rows = [(name, label, kind, path) for name, d in zip(names, dirs) for label, kind, path in artifacts_of(d)]
        if os.path.isfile(args.peer):
            rows.append(("peer", os.path.basename(args.peer), "peer", args.peer))
        else:
            print(f"peer model not found at {args.peer!r}: no peer column.", file=sys.stderr)
        results = measure(rows, args.threads, args.runs, args.passes)
    print(f"Latency at batch 1: median of {args.runs} runs, median of {args.passes} passes; "
          f"ratios to Keras and to the peer at the same thread count. {os.cpu_count()} CPUs.")
    print(table(rows, results, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())

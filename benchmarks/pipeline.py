"""Throughput of the training pipeline against JPEG decoding alone, in one run.

Writes 640x480 JPEGs (the shared sample photos, resized and mirrored/shifted
into variants) into a temporary directory, with person boxes of realistic
sizes (height 40-90 % of the image). Measures images/second of:
- decode alone: read + `tf.io.decode_jpeg` of the whole file (same IDCT as
  the pipeline), parallel, batched;
- `make_dataset(training=True)` at 256x256 and 128x128: read + decode of
  the crop's window + crop + augment + targets + batch;
- the same at 256x256 with whole-image boxes (the window is the whole image:
  nothing saved by windowed decoding).
Rounds are interleaved and the median of each is reported with its ratio to
decode alone (goal >= 0.8), as images per wall-clock second and, steadier
on a shared machine, as CPU time of this process per image.

Usage (from the repository root):

    python benchmarks/pipeline.py [--images 48] [--batch 32] [--batches 16] [--rounds 5]
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from keras_integral.data import pipeline
from keras_integral.data.records import PoseRecord

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"


def write_images(directory, count, rng):
    sources = sorted(SAMPLES.rglob("*.jpg"))
    if not sources:
        raise FileNotFoundError(f"No sample JPEGs under {SAMPLES}.")
    paths = []
    for i in range(count):
        image = cv2.imread(str(sources[i % len(sources)]))
        image = cv2.resize(image, (720, 540))  # then a shifted 640x480 cut, mirrored every other time
        x, y = rng.integers(0, 80), rng.integers(0, 60)
        image = image[y : y + 480, x : x + 640, :: 1 if i % 2 else -1]
        path = directory / f"{i:03d}.jpg"
        cv2.imwrite(str(path), np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(str(path))
    return paths


def person_records(paths, rng, whole_image=False):
    records = []
    for path in paths:
        if whole_image:
            box = [0, 0, 640, 480]
        else:
            h = rng.uniform(0.4, 0.9) * 480
            w = h * rng.uniform(0.35, 0.7)
            box = [rng.uniform(0, 640 - w), rng.uniform(0, 480 - h), w, h]
        xy = np.asarray(box[:2]) + np.asarray(box[2:]) * rng.uniform(0.1, 0.9, (17, 2))
        kp = np.concatenate([xy, rng.uniform(-500, 500, (17, 1))], 1)
        records.append(PoseRecord(path, box, kp, np.ones_like(kp), "h36m"))
    return records


def decode_only(paths, batch):
    def decode(path):
        return tf.io.decode_jpeg(tf.io.read_file(path), channels=3, dct_method="INTEGER_ACCURATE")

    ds = tf.data.Dataset.from_tensor_slices(paths).repeat()
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # Batching full images of one size; the crop pipeline batches crops.
    return ds.batch(batch).prefetch(tf.data.AUTOTUNE)


def measure(dataset, batch, batches):
    """(images per wall-clock second, CPU milliseconds of this process per image)."""
    iterator = iter(dataset)
    for _ in range(3):  # warm-up: tracing, thread pools, autotuning
        next(iterator)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(iterator)
    images = batch * batches
    return images / (time.perf_counter() - wall), 1e3 * (time.process_time() - cpu) / images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_images(Path(tmp), args.images, rng)
        people, whole = person_records(paths, rng), person_records(paths, rng, whole_image=True)
        candidates = {
            "decode alone (640x480 JPEG)": lambda: decode_only(paths, args.batch),
            "pipeline 256x256": lambda: pipeline.make_dataset(people, "h36m", (256, 256), True, args.batch),
            "pipeline 128x128": lambda: pipeline.make_dataset(people, "h36m", (128, 128), True, args.batch),
            "pipeline 256x256, whole-image boxes": lambda: pipeline.make_dataset(
                whole, "h36m", (256, 256), True, args.batch
            ),
        }
        results = {name: [] for name in candidates}
        for _ in range(args.rounds):
            for name, make in candidates.items():
                results[name].append(measure(make(), args.batch, args.batches))
    medians = {name: [statistics.median(v) for v in zip(*values)] for name, values in results.items()}
    rate0, cpu0 = medians["decode alone (640x480 JPEG)"]
    print(f"tf {tf.__version__}, {os.cpu_count()} CPUs, {args.images} JPEGs 640x480, batch {args.batch}, "
          f"{args.batches} batches x {args.rounds} rounds (medians)")  # fmt: skip
    print(f"{'':38s} {'images/s':>9s} {'ratio':>6s} {'CPU ms/image':>13s} {'ratio':>6s}")
    for name, (rate, cpu) in medians.items():
        print(f"{name:38s} {rate:9.1f} {rate / rate0:6.2f} {cpu:13.2f} {cpu0 / cpu:6.2f}")


if __name__ == "__main__":
    main()

"""Throughput of the training pipeline against JPEG decoding alone, in one run.

Writes JPEGs of the three data sets' frame sizes (COCO-like 640x480, MPII
1280x720, Human3.6M 1000x1000; made from the shared sample photos, resized
and mirrored/shifted into variants) into a temporary directory, with person
boxes of realistic sizes (height 40-90 % of the frame). For each frame size it
measures images/second of:
- decode alone: read + `tf.io.decode_jpeg` of the whole file (same IDCT as
  the pipeline), parallel, batched: the yardstick (ratio 1.00);
- `make_dataset(training=True)` at 256x256: read + decode of the crop's
  window + warp + augment + targets + batch;
and for the COCO size also the evaluation pipeline (`training=False`: no
rotation, so the faster `crop_and_resize` warp), the training pipeline at
128x128 and with whole-image boxes (nothing saved by windowed decoding), and
the two parts every rotated training sample pays:
- decode window: read + decode of the person crop's window only (the
  pipeline's `tf.io.decode_and_crop_jpeg`);
- decode window + rotated warp: the same plus TF's general bilinear affine
  warp (`ImageProjectiveTransformV3`) into a rotated, scaled 256x256 crop.
  The pipeline rotates 60 % of its samples (the authors' rate), so this row
  bounds what it can reach against the goal (>= 0.8).
Rounds are interleaved and the median of each is reported with its ratio to
decode alone of the same frames, as images per wall-clock second and,
steadier on a shared machine, as CPU time of this process per image.

Usage (from the repository root):

    python benchmarks/pipeline.py [--images 32] [--batch 32] [--batches 12] [--rounds 5]
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
from keras_integral.data import transforms
from keras_integral.data.records import PoseRecord

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
FRAMES = {"COCO 640x480": (640, 480), "MPII 1280x720": (1280, 720), "H36M 1000x1000": (1000, 1000)}


def write_images(directory, count, size, rng):
    """`count` JPEGs of `size` (width, height): shifted, every other one mirrored."""
    sources = sorted(SAMPLES.rglob("*.jpg"))
    if not sources:
        raise FileNotFoundError(f"No sample JPEGs under {SAMPLES}.")
    width, height = size
    margin_x, margin_y = width // 8, height // 8
    paths = []
    for i in range(count):
        image = cv2.resize(cv2.imread(str(sources[i % len(sources)])), (width + margin_x, height + margin_y))
        x, y = rng.integers(0, margin_x), rng.integers(0, margin_y)
        image = image[y : y + height, x : x + width, :: 1 if i % 2 else -1]
        path = directory / f"{width}x{height}_{i:03d}.jpg"
        cv2.imwrite(str(path), np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(str(path))
    return paths


def person_records(paths, size, rng, whole_image=False):
    width, height = size
    records = []
    for path in paths:
        if whole_image:
            box = [0, 0, width, height]
        else:
            h = rng.uniform(0.4, 0.9) * height
            w = h * rng.uniform(0.35, 0.7)
            box = [rng.uniform(0, width - w), rng.uniform(0, height - h), w, h]
        xy = np.asarray(box[:2]) + np.asarray(box[2:]) * rng.uniform(0.1, 0.9, (17, 2))
        kp = np.concatenate([xy, rng.uniform(-500, 500, (17, 1))], 1)
        records.append(PoseRecord(path, box, kp, np.ones_like(kp), "h36m"))
    return records


def _decode(path):
    return tf.io.decode_jpeg(tf.io.read_file(path), channels=3, dct_method="INTEGER_ACCURATE")


def _finish(dataset, batch):
    options = tf.data.Options()
    options.threading.max_intra_op_parallelism = 1  # as the pipeline
    return dataset.batch(batch).prefetch(tf.data.AUTOTUNE).with_options(options)


def decode_only(paths, batch):
    ds = tf.data.Dataset.from_tensor_slices(paths).repeat()
    # Batching full images of one size; the crop pipeline batches crops.
    return _finish(ds.map(_decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True), batch)


def window_only(records, batch, warp, input_size=(256, 256)):
    """The pipeline's windowed decode of rotated, scaled person crops, then (`warp`) its warp."""
    centers, sizes = transforms.box_to_crop(np.stack([r.box for r in records]), input_size)
    crop_to_image = np.stack([
        transforms.invert_affine(transforms.crop_matrix(c, s, input_size, scale=1.1, rotation_deg=20.0))
        for c, s in zip(centers, sizes)
    ]).astype(np.float32)  # fmt: skip
    no_declared_size = tf.zeros(2, tf.int32)

    def crop(path, to_image):
        window, origin = pipeline._decode_window(path, to_image, input_size, no_declared_size)
        if not warp:
            return window[:8, :8]  # batchable; the decode is done
        # Window pixel p is image pixel p + origin.
        to_window = tf.concat([to_image[:, :2], (to_image[:, 2] - origin)[:, None]], 1)
        return transforms.sample_crop(window, to_window, input_size)

    ds = tf.data.Dataset.from_tensor_slices(([r.image_path for r in records], crop_to_image)).repeat()
    return _finish(ds.map(crop, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True), batch)


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
    parser.add_argument("--images", type=int, default=32, help="JPEGs per frame size")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    batch = args.batch
    candidates = {}  # (frame, row) -> dataset factory

    def stream(records, training, size=(256, 256)):
        return lambda: pipeline.make_dataset(records, "h36m", size, training, batch).repeat()

    with tempfile.TemporaryDirectory() as tmp:
        for frame, size in FRAMES.items():
            paths = write_images(Path(tmp), args.images, size, rng)
            people = person_records(paths, size, rng)
            candidates[frame, "decode alone"] = lambda p=paths: decode_only(p, batch)
            candidates[frame, "training pipeline 256x256"] = stream(people, True)
            if frame.startswith("COCO"):
                candidates[frame, "decode window"] = lambda r=people: window_only(r, batch, warp=False)
                candidates[frame, "decode window + rotated warp 256x256"] = lambda r=people: window_only(r, batch, True)
                # 16 copies of the records: few restarts of the finite evaluation stream.
                candidates[frame, "evaluation pipeline 256x256"] = stream(people * 16, False)
                candidates[frame, "training pipeline 128x128"] = stream(people, True, (128, 128))
                whole = person_records(paths, size, rng, whole_image=True)
                candidates[frame, "training pipeline 256x256, whole-image boxes"] = stream(whole, True)
        results = {key: [] for key in candidates}
        for _ in range(args.rounds):
            for key, make in candidates.items():
                results[key].append(measure(make(), batch, args.batches))
    medians = {key: [statistics.median(v) for v in zip(*values)] for key, values in results.items()}
    print(f"tf {tf.__version__}, {os.cpu_count()} CPUs, {args.images} JPEGs per frame size, batch {batch}, "
          f"{args.batches} batches x {args.rounds} rounds (medians)")  # fmt: skip
    print("ratio: against decode alone of the same frames (goal >= 0.8)")
    print(f"{'':62s} {'images/s':>9s} {'ratio':>6s} {'CPU ms/image':>13s} {'ratio':>6s}")
    for (frame, row), (rate, cpu) in medians.items():
        rate0, cpu0 = medians[frame, "decode alone"]
        print(f"{frame + ': ' + row:62s} {rate:9.1f} {rate / rate0:6.2f} {cpu:13.2f} {cpu0 / cpu:6.2f}")


if __name__ == "__main__":
    main()

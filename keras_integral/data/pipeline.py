"""Records -> `tf.data.Dataset`: decode, crop, augment, targets, batch; mixing.

One sample, top to bottom:
1. position `g` in the stream -> record: training streams are infinite; epoch
   `e = g // N` visits the `N` records in a stateless permutation seeded by
   `(seed, e)`, so the stream is a pure function of `(seed, g)` and
   `start_index` resumes it anywhere. Evaluation streams visit the records
   once, in order.
2. augmentation drawn from `(seed, g)` (`transforms.sample_augmentation`)
   -> one affine matrix (`transforms.crop_matrix`).
3. read + decode only the image window the crop needs
   (`tf.io.decode_and_crop_jpeg`; other formats are decoded whole). A missing,
   corrupt or truncated file is skipped and counted (`SkippedImages`); a
   truncated JPEG whose missing part the crop does not need is used. An
   image whose size differs from the one its annotation file gives
   (`record.meta["image_width"]`, `["image_height"]`) is skipped too, with a
   warning: its keypoints are in another image's pixels. A skip fills no batch slot; a
   whole epoch of the records without one readable image is an error (every
   image unreadable: the stream would skip forever).
4. warp (`transforms.sample_crop`, bilinear, from the crop -> image map
   inverted once per sample), colour (training: each RGB
   channel times `U(0.8, 1.2)`, clipped at 255, as in the authors' code), and
   the targets: keypoints moved by the same matrix, left/right swapped on
   flip, `z / scale`, weight 0 outside the crop.

Targets follow DESIGN.md: keypoints in input-crop pixels `(x, y)` plus `z` in
root-relative millimetres, and per-coordinate weights. When augmentation zooms
the crop by `scale` (> 1 = zoom out), `z` becomes `z / scale`: depth labels
scale with the apparent size of the person, as in the authors' code
(`z / (2000 mm * scale)`); `z` weights are unchanged. A joint whose `(x, y)`
falls outside the crop area `[-0.5, W - 0.5] x [-0.5, H - 0.5]` gets weight 0
on every coordinate (the integral cannot represent it).

Example:

```python
ds = make_dataset(records, "h36m", (256, 256), training=True, batch_size=32)
images, targets = next(iter(ds))   # (32, 256, 256, 3), {"keypoints", "weights"}
model.fit(ds, steps_per_epoch=1000, callbacks=[SkippedImagesReport(ds.skipped_images)])
```
"""

import contextlib
import os
import threading
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_integral import skeletons
from keras_integral.data import transforms

# Fold-in tags that give the record order and the augmentation independent
# random streams derived from the same (seed, source) key.
_ORDER_STREAM = 1
_AUGMENTATION_STREAM = 2
# Files looked at when the dataset is built: if none of them exists, the image
# root is wrong and a training stream would skip images forever.
_FILES_CHECKED = 16


class SkippedImages:
    """The images a pipeline could not read or decode, in the order it met them.

    The pipeline counts an image when it reads it, which can be ahead of
    training by the prefetch buffer. A bad file in a training stream is counted
    once per visit (once per epoch of the records). The stream positions of
    the skips make `stream_positions` exact, and a whole epoch of the records
    without one readable image stops the stream instead of skipping for ever:
    an `InvalidArgumentError` that carries the message (the folder and the
    count), which `stopped_by` recognises and `unreadable_as_value_error`
    turns into a plain `ValueError`.

    Example:

    ```python
    ds = make_dataset(records, "coco", (256, 192), training=False, batch_size=8)
    for batch in ds: ...
    ds.skipped_images.count, ds.skipped_images.paths[:3]
    ```
    """

    def __init__(self, starts=(0,), samples_per_batch=(1,)):
        self._paths = []
        # Per source; a set, since each iterator over the dataset (Keras may open more than one) meets
        # the same skips at the same positions.
        self._positions = [set() for _ in starts]
        self._starts = [int(s) for s in starts]
        self._samples_per_batch = [int(c) for c in samples_per_batch]
        self._stop_messages = []  # (token, message), one per source, see `_stop_message`
        self.error = None  # the message that stopped the stream, once `stopped_by` has seen it
        self._lock = threading.Lock()  # tf.data may call _add from several threads

    @property
    def count(self):
        """Number of images skipped so far."""
        with self._lock:
            return len(self._paths)

    @property
    def paths(self):
        """list of the skipped images' paths, in order (repeats included)."""
        with self._lock:
            return list(self._paths)

    def stream_positions(self, batches):
        """The `start_index` that resumes this stream after `batches` batches were taken from it.

        A skipped image does not fill a batch slot, so the stream has moved on
        by the samples delivered plus the skips among them: a stream started
        at the returned position continues exactly as this one does. (`fit`
        takes exactly `steps_per_epoch` batches per epoch; the pipeline has
        met every skip before the last sample it delivered.)

        Returns:
            list of ints, one per source (`make_dataset`: one).
        """
        with self._lock:
            skips = [np.fromiter(p, np.int64, len(p)) for p in self._positions]
        positions = []
        for start, per_batch, skipped in zip(self._starts, self._samples_per_batch, skips):
            delivered = int(batches) * per_batch
            position = start + delivered
            while True:  # the least position with `delivered` readable samples before it
                moved = start + delivered + int(np.count_nonzero(skipped < position))
                if moved == position:
                    break
                position = moved
            positions.append(position)
        return positions

    def _add(self, source, positions, paths):
        with self._lock:
            self._positions[int(source)].update(int(p) for p in positions.numpy())
            self._paths.extend(p.decode() for p in paths.numpy())
        return True

    def stopped_by(self, error):
        """The message of this pipeline's stop that `error` (from iterating the stream) carries, else None.

        Also keeps it in `error`.
        """
        text = str(error)
        for token, message in self._stop_messages:
            if token in text:
                with self._lock:
                    self.error = message
                return message
        return None

    def _stop_message(self, paths):
        """The text of the stop of a stream over `paths` (one per record): a whole epoch of them unread.

        An epoch of the records visits each record once, so the unreadable
        files are then all of them: the message is known before the stream
        runs. TF escapes what it prints (quotes, non-ASCII), so the text starts
        with an ASCII token that `stopped_by` finds.
        """
        files = sorted(set(str(p) for p in paths))
        folder = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
        message = (
            f"None of the {len(paths)} records' images could be read or decoded (a whole epoch of the records "
            f"was skipped): {len(files)} unreadable file(s) under {folder} (missing, empty or corrupt; first: "
            f"{files[0]})."
        )
        token = f"[keras_integral stream stop {id(self):x}.{len(self._stop_messages)}]"
        self._stop_messages.append((token, message))
        return f"{token} {message}"


@contextlib.contextmanager
def unreadable_as_value_error(*skipped_images):
    """Re-raises a stream's stop on unreadable images as its plain `ValueError`.

    Inside `tf.data` (and `fit`) the stop arrives as a
    `tf.errors.InvalidArgumentError` wrapped in graph context; this gives the
    caller the message alone (the folder and the count).

    Example:

    ```python
    with unreadable_as_value_error(ds.skipped_images):
        for batch in ds: ...
    ```
    """
    try:
        yield
    except tf.errors.OpError as error:
        message = next((m for s in skipped_images if s is not None for m in [s.stopped_by(error)] if m), None)
        if message is None:
            raise
        raise ValueError(message) from None


class SkippedImagesReport(keras.callbacks.Callback):
    """Prints, at the end of each epoch, how many images were skipped and which.

    Silent for epochs in which no image was skipped.

    Args:
        skipped_images: the `SkippedImages` of the training dataset
            (`dataset.skipped_images`).
        max_paths: how many of the epoch's distinct paths to print.

    Example:

    ```python
    model.fit(ds, steps_per_epoch=100, callbacks=[SkippedImagesReport(ds.skipped_images)])
    ```
    """

    def __init__(self, skipped_images, max_paths=5):
        super().__init__()
        if not isinstance(skipped_images, SkippedImages):
            raise TypeError(
                f"skipped_images must be a SkippedImages (dataset.skipped_images), got {type(skipped_images).__name__}."
            )
        self.skipped_images = skipped_images
        self.max_paths = max_paths
        self._reported = 0

    def on_epoch_end(self, epoch, logs=None):
        paths = self.skipped_images.paths
        new = paths[self._reported :]
        self._reported = len(paths)
        if new:
            files = list(dict.fromkeys(new))  # distinct, in the order met
            shown = ", ".join(files[: self.max_paths]) + (", ..." if len(files) > self.max_paths else "")
            print(
                f"Epoch {epoch + 1}: skipped {len(new)} unreadable or wrong-size image(s) from {len(files)} file(s) "
                f"({len(paths)} skips in all): {shown}"
            )


def make_dataset(
    records,
    skeleton,
    input_size,
    training,
    batch_size,
    seed=0,
    start_index=0,
    margin=transforms.CROP_MARGIN,
    dims=None,
    with_meta=False,
    augmentation=None,
    num_parallel_calls=tf.data.AUTOTUNE,
):
    """Batches of input crops and keypoint targets from `PoseRecord`s.

    Args:
        records: list of `PoseRecord`s.
        skeleton: the OUTPUT joint set (name or `Skeleton`); records of
            another set are mapped with `skeletons.map_keypoints` (unmapped
            joints get weight 0).
        input_size: `(height, width)` of the crops in pixels.
        training: `True`: infinite, shuffled, augmented stream (pass
            `steps_per_epoch` to `fit`), batches of exactly `batch_size`.
            `False`: the records once, in order, no augmentation; the last
            batch may be smaller.
        batch_size: samples per batch.
        seed: int; the training stream is a pure function of `(seed, global
            sample index)`.
        start_index: stream position at which the training stream starts.
            Positions skipped for unreadable images fill no batch slot (the
            following samples move up), so a run resumes at
            `skipped_images.stream_positions(batches_taken)[0]`, which is
            `batches_taken * batch_size` when nothing was skipped.
        margin: box expansion (`transforms.box_to_crop`): the model's
            `crop_margin`.
        dims: 2 or 3 coordinates per keypoint; default: the records' own.
            2D records are padded to 3 with `z = 0`, weight 0; 3D records are
            cut to `(x, y)` for `dims=2`.
        with_meta: add a third element `meta`: `index` `(batch,)` record index
            and `crop_to_image` `(batch, 2, 3)` affine from crop pixels back
            to original image pixels.
        augmentation: dict of keyword arguments for
            `transforms.sample_augmentation` (e.g. `{"color_factor": 0.0}`
            turns the colour augmentation off); training only.
        num_parallel_calls: parallelism of decode and crop.

    Returns:
        `tf.data.Dataset` of `(images, targets)` or `(images, targets, meta)`:
        images `(batch, H, W, 3)` RGB float32 in `[0, 255]`; targets
        `{"keypoints": (batch, joints, dims), "weights": (batch, joints,
        dims)}` in input-crop pixels (and mm for `z`). Its attribute
        `skipped_images` is the `SkippedImages` of the stream.

    Raises:
        ValueError (when iterated; `tf.errors.InvalidArgumentError` inside
        `fit`): a whole epoch of the records had no readable image, naming the
        folder and the number of unreadable files.

    Example:

    ```python
    ds = make_dataset(records, "coco", (256, 192), training=False, batch_size=16, with_meta=True)
    images, targets, meta = next(iter(ds))
    image_xy = transforms.apply_affine(meta["crop_to_image"], targets["keypoints"][..., :2])
    ```
    """
    skeleton = skeletons.get(skeleton)
    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, 0)
    _check_int("start_index", start_index, 0)
    if not training and start_index != 0:
        raise ValueError(f"start_index applies to training streams only; got {start_index} with training=False.")
    if augmentation and not training:
        raise ValueError("augmentation applies to training streams only (training=False has none).")
    source = _prepare(records, skeleton, input_size, margin, dims)
    skipped = SkippedImages([start_index], [batch_size])
    dataset = _sample_stream(
        source, skeleton, input_size, training, seed, 0, start_index, augmentation, with_meta, skipped,
        num_parallel_calls,
    )
    return _finish(dataset.batch(batch_size, drop_remainder=training), skipped)


def mixed(
    record_lists,
    weights,
    skeleton,
    input_size,
    batch_size,
    seed=0,
    start_index=0,
    margin=transforms.CROP_MARGIN,
    dims=None,
    augmentation=None,
    num_parallel_calls=tf.data.AUTOTUNE,
):
    """Training batches mixed from several sources in fixed proportions.

    Each batch holds exactly `round(weights[i] * batch_size)` samples of
    source `i`, source after source (e.g. H36M 3D then MPII 2D mapped to
    H36M with `z` weight 0: the paper's half/half batches). Each source is an
    independent training stream of `make_dataset`, seeded by `(seed, i)`.

    Args:
        record_lists: list of record lists, one per source.
        weights: list of fractions of the batch, one per source.
        skeleton, input_size, margin, augmentation, num_parallel_calls: as in
            `make_dataset`.
        batch_size: samples per batch; the rounded shares must add up to it.
        seed: int.
        start_index: global sample index to start at (a multiple of
            `batch_size`; each source starts at its share), or a list of
            one stream position per source (resume:
            `skipped_images.stream_positions(batches_taken)`).
        dims: default: the largest of the records' dims (2D sources padded).

    Returns:
        infinite `tf.data.Dataset` of `(images, targets)` as in
        `make_dataset`, with attribute `skipped_images`.

    Example:

    ```python
    ds = mixed([h36m_records, mpii_records], [0.5, 0.5], "h36m", (256, 256), batch_size=32)
    ```
    """
    skeleton = skeletons.get(skeleton)
    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, 0)
    if len(record_lists) != len(weights) or not record_lists:
        raise ValueError(
            f"record_lists and weights must be non-empty and of equal length, got {len(record_lists)} and "
            f"{len(weights)}."
        )
    counts = [round(w * batch_size) for w in weights]
    if min(counts) < 1 or sum(counts) != batch_size:
        raise ValueError(
            f"weights {list(weights)} give {counts} samples per batch of {batch_size}; each must be >= 1 and they "
            f"must add up to batch_size."
        )
    if isinstance(start_index, (list, tuple)):
        if len(start_index) != len(record_lists):
            raise ValueError(f"start_index must have one position per source ({len(record_lists)}), got "
                             f"{list(start_index)}.")
        for position in start_index:
            _check_int("start_index", position, 0)
        starts = [int(p) for p in start_index]
    else:
        _check_int("start_index", start_index, 0)
        if start_index % batch_size:
            raise ValueError(f"start_index must be a multiple of batch_size={batch_size}, got {start_index}.")
        starts = [start_index // batch_size * count for count in counts]
    if dims is None:
        dims = max(r.dims for records in record_lists for r in records)
    skipped = SkippedImages(starts, counts)
    parts = []
    for i, (records, count) in enumerate(zip(record_lists, counts)):
        source = _prepare(records, skeleton, input_size, margin, dims)
        stream = _sample_stream(
            source, skeleton, input_size, True, seed, i, starts[i], augmentation, False, skipped,
            num_parallel_calls,
        )
        parts.append(stream.batch(count, drop_remainder=True))
    dataset = tf.data.Dataset.zip(tuple(parts)).map(
        lambda *batches: tf.nest.map_structure(lambda *xs: tf.concat(xs, axis=0), *batches)
    )
    return _finish(dataset, skipped)


def _finish(dataset, skipped):
    """Prefetches, runs each op on one thread, attaches `skipped_images`."""
    options = tf.data.Options()
    # The parallel map already keeps every core busy with one sample each;
    # splitting an op (the warp) across threads on top only adds hand-offs
    # (measured: ~10 % more images per CPU second, benchmarks/pipeline.py).
    options.threading.max_intra_op_parallelism = 1
    dataset = dataset.prefetch(tf.data.AUTOTUNE).with_options(options)
    dataset.skipped_images = skipped
    return dataset


def _prepare(records, skeleton, input_size, margin, dims):
    """Checks records; NumPy arrays of paths, crop windows and mapped targets."""
    transforms._check_input_size(input_size)
    if not len(records):
        raise ValueError("records is empty: nothing to build a dataset from.")
    for i, record in enumerate(records):
        if not all(hasattr(record, a) for a in ("image_path", "box", "keypoints", "weights", "skeleton")):
            raise TypeError(f"records[{i}] is a {type(record).__name__}, expected a PoseRecord.")
    if dims is None:
        found = sorted({r.dims for r in records})
        if len(found) > 1:
            raise ValueError(f"records mix {found} coordinates per keypoint; pass dims=3 (2D records get z weight 0).")
        dims = found[0]
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims!r}.")
    boxes = np.stack([r.box for r in records]).astype(np.float64)
    bad = ~np.all(np.isfinite(boxes), axis=1) | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"records[{i}] ({records[i].image_path!r}): box must be finite [x, y, width, height] with width, "
            f"height > 0, got {boxes[i].tolist()}."
        )
    centers, sizes = transforms.box_to_crop(boxes, input_size, margin)
    n, joints = len(records), skeleton.num_joints
    keypoints = np.zeros((n, joints, dims), np.float32)
    weights = np.zeros((n, joints, dims), np.float32)
    groups = {}
    for i, r in enumerate(records):
        groups.setdefault((r.skeleton, r.dims), []).append(i)
    for (name, record_dims), index in groups.items():
        d = min(dims, record_dims)
        try:
            k, w = skeletons.map_keypoints(
                np.stack([records[i].keypoints for i in index]), np.stack([records[i].weights for i in index]),
                name, skeleton,
            )
        except ValueError as error:
            raise ValueError(f"records[{index[0]}] ({records[index[0]].image_path!r}): {error}") from None
        keypoints[index, :, :d], weights[index, :, :d] = k[..., :d], w[..., :d]
    labelled = weights > 0
    if not np.all(np.isfinite(keypoints[labelled])):
        i = int(np.argmax(np.any(labelled & ~np.isfinite(keypoints), axis=(1, 2))))
        raise ValueError(f"records[{i}] ({records[i].image_path!r}): a keypoint with weight > 0 is not finite.")
    keypoints[~labelled] = 0  # NaN placeholders of unlabelled joints must not reach the loss (0 * NaN = NaN)
    paths = np.array([str(r.image_path) for r in records])
    if not any(tf.io.gfile.exists(p) for p in paths[:_FILES_CHECKED]):
        raise FileNotFoundError(
            f"None of the first {min(n, _FILES_CHECKED)} record images exists (first: {paths[0]!r}); "
            f"is the image directory right?"
        )
    return {
        "paths": paths,
        "image_sizes": np.array([_declared_size(r) for r in records], np.int32),
        "centers": centers.astype(np.float32),
        "sizes": sizes.astype(np.float32),
        "keypoints": keypoints,
        "weights": weights,
    }


def _sample_stream(
    source, skeleton, input_size, training, seed, source_id, start_index, augmentation, with_meta, skipped,
    num_parallel_calls,
):
    """Unbatched stream of `(image, targets[, meta])` of one source."""
    in_h, in_w = input_size
    n = len(source["paths"])
    paths = tf.constant(source["paths"])
    image_sizes = tf.constant(source["image_sizes"])
    centers, sizes = tf.constant(source["centers"]), tf.constant(source["sizes"])
    keypoints, weights = tf.constant(source["keypoints"]), tf.constant(source["weights"])
    flip_index = tf.constant(skeleton.flip_index)
    key = tf.constant([seed, source_id], tf.int64)
    order_key = tf.cast(tf.random.experimental.stateless_fold_in(key, _ORDER_STREAM)[0], tf.int64)
    augmentation_key = tf.cast(tf.random.experimental.stateless_fold_in(key, _AUGMENTATION_STREAM), tf.int64)
    color = training and (augmentation or {}).get("color_factor", 1) != 0

    def record_index(position):  # position: int64 scalar or vector
        if not training:
            return position
        fill = tf.ones_like(position)
        epoch_seed = tf.stack([fill * order_key, position // n, fill * 0], axis=-1)
        # The raw op takes one 3-element seed per index (the wrapper only pads a single seed).
        last = tf.constant(n - 1, tf.int64)
        return tf.raw_ops.RandomIndexShuffle(index=position % n, seed=epoch_seed, max_index=last)

    def sample(position):
        record = record_index(position)
        if training:
            aug = transforms.sample_augmentation(augmentation_key, position, **(augmentation or {}))
        else:
            aug = {"scale": tf.constant(1.0), "rotation_deg": tf.constant(0.0), "shift": tf.zeros(2),
                   "flip": tf.constant(False)}  # fmt: skip
        matrix = transforms.crop_matrix(
            tf.gather(centers, record), tf.gather(sizes, record), input_size,
            aug["scale"], aug["rotation_deg"], aug["shift"], aug["flip"],
        )  # fmt: skip
        crop_to_image = transforms.invert_affine(matrix)  # the sample's one inversion
        path, declared_hw = tf.gather(paths, record), tf.gather(image_sizes, record)
        window, origin = _decode_window(path, crop_to_image, input_size, declared_hw)
        # Window pixel p is image pixel p + origin.
        crop_to_window = tf.concat([crop_to_image[:, :2], (crop_to_image[:, 2] - origin)[:, None]], 1)
        image = transforms.sample_crop(window, crop_to_window, input_size)
        if color:  # bilinear values stay in [0, 255 * factor]: only the top needs a clip
            image = tf.minimum(image * aug["color"], 255.0)
        kp, w = tf.gather(keypoints, record), tf.gather(weights, record)
        kp = tf.concat([transforms.apply_affine(matrix, kp[:, :2]), kp[:, 2:] / aug["scale"]], axis=1)
        kp = tf.where(aug["flip"], tf.gather(kp, flip_index), kp)
        w = tf.where(aug["flip"], tf.gather(w, flip_index), w)
        x, y = kp[:, 0], kp[:, 1]
        inside = (x >= -0.5) & (x <= in_w - 0.5) & (y >= -0.5) & (y <= in_h - 0.5)
        w = w * tf.cast(inside, tf.float32)[:, None]
        element = {"position": position, "image": image, "keypoints": tf.where(w > 0, kp, 0.0), "weights": w}
        if with_meta:
            element.update(index=record, crop_to_image=crop_to_image)
        return element

    stop_message = skipped._stop_message(source["paths"])

    def account(state, element):
        # Positions missing before an element (a sample, or the marker that ends each epoch of the
        # records) are the skipped images; a whole epoch of them stops the stream.
        expected, unread = state
        position, is_sample = element["position"], element["is_sample"]
        gap = position - expected

        def report():
            missing = tf.range(expected, position)
            return tf.py_function(skipped._add, [source_id, missing, tf.gather(paths, record_index(missing))], tf.bool)

        unread = tf.where(is_sample, tf.constant(0, tf.int64), unread + gap)
        # The stop is raised in TF alone, before any callback: once stopped, the stream (whose threads
        # keep reading ahead) never calls into Python again. A callback still waiting for the
        # interpreter when the iterator is destroyed at interpreter shutdown deadlocks the process
        # there (measured: 1 CLI run in ~15 hung after printing its error, when the stop was a callback).
        stop = tf.debugging.Assert(unread < n, [stop_message])
        with tf.control_dependencies([stop]):
            reported = tf.cond(gap > 0, report, lambda: tf.constant(True))
        with tf.control_dependencies([reported]):
            next_expected = position + tf.cast(is_sample, tf.int64)
            return (next_expected, unread), element

    def output(element):
        targets = {"keypoints": element["keypoints"], "weights": element["weights"]}
        if not with_meta:
            return element["image"], targets
        return element["image"], targets, {"index": element["index"], "crop_to_image": element["crop_to_image"]}

    def readable(begin, end):
        """The samples of positions [begin, end) that could be read, then a marker at `end`."""
        samples = tf.data.Dataset.range(begin, end).map(
            lambda position: dict(sample(position), is_sample=True),
            num_parallel_calls=num_parallel_calls, deterministic=True,
        )
        # What fails at run time here is reading and decoding (shapes and dtypes
        # fail when tracing, above): those samples are dropped, then counted.
        samples = samples.ignore_errors()
        marker = tf.nest.map_structure(lambda spec: tf.zeros(spec.shape, spec.dtype), samples.element_spec)
        marker.update(position=end, is_sample=tf.constant(False))
        return samples.concatenate(tf.data.Dataset.from_tensors(marker))

    if training:  # one epoch of the records after the other, from the one holding start_index
        samples = tf.data.Dataset.counter(start_index // n, dtype=tf.int64).flat_map(
            lambda epoch: readable(tf.maximum(epoch * n, start_index), (epoch + 1) * n)
        )
    else:
        samples = readable(tf.constant(0, tf.int64), tf.constant(n, tf.int64))
    samples = samples.scan((tf.constant(start_index, tf.int64), tf.constant(0, tf.int64)), account)
    return samples.filter(lambda element: element["is_sample"]).map(output)


def _declared_size(record):
    """`(height, width)` the record's annotation file gives its image, `(0, 0)` if it gives none."""
    size = [record.meta.get(key) for key in ("image_height", "image_width")]
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in size):
        return size
    return [0, 0]


def _warn_size(path, image_hw, declared_hw):
    (h, w), (dh, dw) = image_hw.numpy(), declared_hw.numpy()
    warnings.warn(
        f"Image {path.numpy().decode()!r} is {w}x{h} px but its annotation file says {dw}x{dh}: skipped "
        "(its keypoints would not match its pixels).",
        stacklevel=2,
    )
    return True


def _decode_window(path, crop_to_image, input_size, declared_hw):
    """Reads an image and decodes the part of it that the crop samples.

    A JPEG is decoded only inside the crop's source window
    (`transforms.source_window`, by `tf.io.decode_and_crop_jpeg`: less work);
    other formats are decoded whole, then cut to the window.

    Args:
        path: string scalar tensor.
        crop_to_image: `(2, 3)` affine from crop pixels to image pixels.
        input_size: `(height, width)` of the crop.
        declared_hw: int32 `(2,)` size the annotation file gives the image,
            `(0, 0)` if none.

    Raises (at run time, so the sample is skipped):
        InvalidArgumentError: unreadable data, or an image whose `(height,
        width)` is not `declared_hw` (unless that is `(0, 0)`), with a warning.

    Returns:
        `(window, origin)`: `(h, w, 3)` uint8 and the `(x, y)` image pixel of
        its top-left pixel (float32).
    """
    data = tf.io.read_file(path)
    low, high = transforms.source_window(crop_to_image, input_size)

    def window_in(image_hw):  # -> top-left (x, y) and size (w, h), clipped to the image
        size_ok = tf.reduce_all(tf.equal(declared_hw, 0)) | tf.reduce_all(tf.equal(declared_hw, image_hw))
        warned = tf.cond(size_ok, lambda: tf.constant(True),
                         lambda: tf.py_function(_warn_size, [path, image_hw, declared_hw], tf.bool))
        check = tf.debugging.Assert(size_ok & warned, ["image size differs from the annotation file:", path])
        with tf.control_dependencies([check]):
            last = image_hw[::-1] - 1
        start = tf.clip_by_value(low, 0, last)
        return start, tf.clip_by_value(high, 0, last) - start + 1

    def jpeg():
        start, size = window_in(tf.io.extract_jpeg_shape(data)[:2])
        crop = tf.stack([start[1], start[0], size[1], size[0]])
        return tf.io.decode_and_crop_jpeg(data, crop, channels=3, dct_method="INTEGER_ACCURATE"), start

    def other():
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        start, size = window_in(tf.shape(image)[:2])
        return image[start[1] : start[1] + size[1], start[0] : start[0] + size[0]], start

    window, start = tf.cond(tf.io.is_jpeg(data), jpeg, other)
    return tf.ensure_shape(window, [None, None, 3]), tf.cast(start, tf.float32)


def _check_int(name, value, minimum):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")

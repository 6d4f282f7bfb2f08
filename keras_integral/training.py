"""train(recipe): strategy, data, model, callbacks, `model.fit`; killed runs resume exactly.

The run, top to bottom:
1. The distribution strategy: `MultiWorkerMirroredStrategy` when `TF_CONFIG`
   is set, else `MirroredStrategy` over the local devices. The recipe's batch
   size is global and split across replicas; batch-norm statistics are taken
   over the global batch (`sync_batchnorm`), so N replicas train like one
   device with the same global batch.
2. Records from the recipe's loaders; the training stream
   (`data.pipeline.make_dataset` or `mixed`) is a pure function of (seed,
   sample index) and starts where the last backup ended.
3. The model and optimizer (Adam, learning rate divided by 10 at each of
   `lr_drops`) inside the strategy's scope.
4. `model.fit` with the callbacks: atomic `BackupAndRestore` (weights,
   optimizer state and epoch in one directory, swapped in by a rename, so a
   `kill -9` at any moment leaves the previous backup intact), the I1-I3 phase
   switch, the best model (atomic), TensorBoard, a CSV log, the progress bar.

A run killed at any point and started again with the same recipe and output
folder ends with the same weights as an unbroken run.

Example:

    from keras_integral.recipes import load_recipe
    from keras_integral.training import train
    model, history = train(load_recipe("recipes/synthetic/quickstart.yaml"),
                           data_dir="synth", out_dir="runs/quickstart")
"""

import json
import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from keras_integral import methods
from keras_integral.data import coco
from keras_integral.data import h36m
from keras_integral.data import mpii
from keras_integral.data import pipeline
from keras_integral.models.multistage import MultiStagePoseModel
from keras_integral.models.pose_model import IntegralPoseModel
from keras_integral.recipes import dump_recipe

_LATEST = "LATEST"


# === Data ===


def load_split(recipe, data_dir, split):
    """The records of `split` ("train", "val" or "mix") of the recipe's data set.

    Paths in the recipe are relative to `data_dir`. H36M without
    `val_annotations` takes its test split (protocol, every `test_stride`-th
    frame) from `train_annotations`.
    """
    def path(p):
        return os.path.join(data_dir, p) if p else None

    if split == "mix":
        kind, annotations, images = recipe.mix_dataset, recipe.mix_annotations, recipe.mix_images
    elif split == "train":
        kind, annotations, images = recipe.dataset, recipe.train_annotations, recipe.train_images
    else:
        kind = recipe.dataset
        annotations = recipe.val_annotations or (recipe.train_annotations if kind == "h36m" else None)
        images = recipe.val_images or recipe.train_images
        if annotations is None:
            return []
    if kind == "coco":
        detections = path(recipe.val_detections) if split == "val" else None
        records = coco.load_records(path(annotations), path(images), detections_file=detections)
    elif kind == "mpii":
        head_boxes = path(recipe.val_head_boxes) if split == "val" else None
        records = mpii.load_records(path(annotations), path(images), head_boxes_file=head_boxes)
    else:
        records = h36m.load_records(
            path(annotations), path(images), path(recipe.cameras), protocol=recipe.protocol or 2,
            split="train" if split == "train" else "test", test_stride=recipe.test_stride,
        )
    limit = recipe.max_val_records if split == "val" else recipe.max_train_records
    if limit is not None and len(records) > limit:
        keep = np.sort(np.random.default_rng(recipe.seed).choice(len(records), limit, replace=False))
        records = [records[i] for i in keep]
    return records


# The recipe's `augmentation`: keyword arguments of `transforms.sample_augmentation`.
# "paper": scale, rotation, shift, flip and colour as the paper; "flip": only the
# horizontal flip (for short schedules on many images, where the rest slows learning).
_NO_AUGMENTATION = {"scale_factor": 0.0, "rotation_prob": 0.0, "shift_fraction": 0.0, "flip_prob": 0.0,
                    "color_factor": 0.0}
AUGMENTATIONS = {"paper": None, "flip": {**_NO_AUGMENTATION, "flip_prob": 0.5}, "none": _NO_AUGMENTATION}


def training_stream(recipe, train_records, mix_records, steps_per_epoch, initial_epoch):
    """The infinite training dataset, starting at the first sample of `initial_epoch`."""
    start = initial_epoch * steps_per_epoch * recipe.batch_size
    augmentation = AUGMENTATIONS[recipe.augmentation]
    dims = 3 if recipe.depth_bins else 2
    common = dict(skeleton=recipe.skeleton, input_size=tuple(recipe.input_size), batch_size=recipe.batch_size,
                  seed=recipe.seed, start_index=start, dims=dims, augmentation=augmentation)
    if mix_records:
        weights = [1.0 - recipe.mix_fraction, recipe.mix_fraction]
        dataset = pipeline.mixed([train_records, mix_records], weights, **common)
    else:
        dataset = pipeline.make_dataset(train_records, training=True, **common)
    options = tf.data.Options()
    # The stream is generated from sample indices, not files: shard by element across workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    skipped = dataset.skipped_images
    dataset = dataset.with_options(options)
    dataset.skipped_images = skipped
    return dataset


# === Callbacks ===


class PhaseSchedule(keras.callbacks.Callback):
    """I1-I3: heat-map loss before `switch_epoch`, joint loss from it on (the paper's training).

    The phase is a function of the epoch, so a resumed run picks the right
    one; changing it re-traces the train and test steps (no rebuild).
    """

    def __init__(self, switch_epoch):
        super().__init__()
        self.switch_epoch = switch_epoch

    def on_epoch_begin(self, epoch, logs=None):
        phase = 1 if epoch < self.switch_epoch else 2
        if self.model.phase != phase:
            self.model.phase = phase
            self.model.make_train_function(force=True)
            self.model.make_test_function(force=True)
            print(f"\nEpoch {epoch + 1}: training phase {phase} "
                  f"({'heat-map loss' if phase == 1 else 'joint loss'}).")


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backups survive `kill -9` at any moment.

    Each backup (weights with the optimizer state, and the epoch) is written
    into a fresh directory, which a rename makes complete, and a pointer file
    replaced atomically (`os.replace`) names the latest one. Keras' own
    callback overwrites the weights and the epoch file one after the other, so
    a kill between the two resumes the wrong epoch. Backups are kept after
    training, so re-running a finished run does nothing.
    """

    def __init__(self, backup_dir):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False)
        self._point_to(latest_backup(backup_dir))

    def _point_to(self, state_dir):
        state_dir = state_dir or os.path.join(self.backup_dir, "none")
        self._weights_path = os.path.join(state_dir, "latest.weights.h5")
        self._training_metadata_path = os.path.join(state_dir, "training_metadata.json")
        self._prev_weights_path = self._weights_path + ".bkp"
        self._prev_training_metadata_path = self._training_metadata_path + ".bkp"

    def _save_model(self):
        name = f"epoch_{self._current_epoch:05d}"
        final = os.path.join(self.backup_dir, name)
        temporary = os.path.join(self.backup_dir, f".{name}.{os.getpid()}.tmp")
        shutil.rmtree(temporary, ignore_errors=True)
        os.makedirs(temporary)
        self.model.save_weights(os.path.join(temporary, "latest.weights.h5"))
        _write_json(os.path.join(temporary, "training_metadata.json"),
                    {"epoch": self._current_epoch, "batch": 0})
        shutil.rmtree(final, ignore_errors=True)
        os.rename(temporary, final)
        _atomic_write_text(os.path.join(self.backup_dir, _LATEST), name)
        for entry in os.listdir(self.backup_dir):  # older backups are superseded
            if entry.startswith("epoch_") and entry != name:
                shutil.rmtree(os.path.join(self.backup_dir, entry), ignore_errors=True)
        self._point_to(final)


def latest_backup(backup_dir):
    """The directory of the latest complete backup in `backup_dir`, or None."""
    pointer = os.path.join(backup_dir, _LATEST)
    if not os.path.isfile(pointer):
        return None
    with open(pointer) as f:
        state_dir = os.path.join(backup_dir, f.read().strip())
    return state_dir if os.path.isdir(state_dir) else None


def backup_epoch(backup_dir):
    """The number of epochs the latest backup in `backup_dir` completed (0 if none)."""
    state_dir = latest_backup(backup_dir)
    if state_dir is None:
        return 0
    with open(os.path.join(state_dir, "training_metadata.json")) as f:
        return int(json.load(f)["epoch"])


class AtomicBestModel(keras.callbacks.Callback):
    """Saves the model (`.keras`) whenever `monitor` improves, by write-then-rename.

    The best value so far lives beside the model (`<path>.json`), so a resumed
    run keeps comparing against it.
    """

    def __init__(self, path, monitor="val_loss", mode="min"):
        super().__init__()
        self.path, self.monitor, self.mode = path, monitor, mode
        self.state_path = path + ".json"
        self.best = None
        if os.path.isfile(self.state_path):
            with open(self.state_path) as f:
                self.best = json.load(f)["value"]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        if better:
            self.best = float(value)
            temporary = self.path + ".tmp.keras"
            self.model.save(temporary)
            os.replace(temporary, self.path)
            _write_json(self.state_path, {"epoch": epoch + 1, "monitor": self.monitor, "value": self.best})


def _write_json(path, value):
    _atomic_write_text(path, json.dumps(value, indent=2))


def _atomic_write_text(path, text):
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


# === Training ===


def make_strategy():
    """`MultiWorkerMirroredStrategy` when `TF_CONFIG` is set, else `MirroredStrategy` (local devices)."""
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.MirroredStrategy()


def learning_rate_schedule(recipe, steps_per_epoch):
    """The recipe's learning rate: divided by 10 at each epoch of `lr_drops` (1e-3 -> 1e-4 -> 1e-5), or cosine.

    `lr_schedule: cosine` warms up linearly from a tenth of the rate over the
    first 5 % of the steps, then follows a cosine to a hundredth (Loshchilov &
    Hutter, SGDR, ICLR 2017, one cycle): for short runs.
    """
    if recipe.lr_schedule == "cosine":
        total = recipe.epochs * steps_per_epoch
        warmup = max(1, total // 20)
        return keras.optimizers.schedules.CosineDecay(
            recipe.learning_rate * 0.1, max(1, total - warmup), alpha=0.01,
            warmup_target=recipe.learning_rate, warmup_steps=warmup)
    if not recipe.lr_drops:
        return recipe.learning_rate
    boundaries = [int(epoch * steps_per_epoch) for epoch in recipe.lr_drops]
    values = [recipe.learning_rate * 0.1**i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def _is_chief():
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    has_chief = "chief" in config.get("cluster", {})
    return not task or task.get("type") == "chief" or (not has_chief and task.get("index", 0) == 0)


def build_model(recipe, strategy=None):
    """The recipe's `IntegralPoseModel`, compiled; under `strategy`'s scope when given."""
    with strategy.scope() if strategy else _null_scope():
        model_class = MultiStagePoseModel if recipe.num_stages > 1 else IntegralPoseModel
        model = model_class(**recipe.model_kwargs)
        if strategy is not None and strategy.num_replicas_in_sync > 1 and recipe.sync_batchnorm:
            for layer in model._flatten_layers(include_self=False):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True  # read at call time: statistics over the global batch
        return model


class _null_scope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def train(recipe, data_dir, out_dir, verbose=1, callbacks=()):
    """Trains the recipe's model; resumes from `out_dir/backup` when a backup is there.

    Args:
        recipe: a `Recipe` (`keras_integral.recipes.load_recipe`).
        data_dir: the directory the recipe's data paths are relative to.
        out_dir: the run folder: `recipe.yaml`, `backup/`, `best.keras`,
            `model.keras` (final), `log.csv`, `tensorboard/`.
        verbose: Keras progress bar setting (1: bar, 2: a line per epoch, 0: quiet).
        callbacks: extra Keras callbacks.

    Returns:
        `(model, history)`: the trained model and the `fit` history of this
        invocation (only the epochs run now, after a resume).
    """
    keras.utils.set_random_seed(recipe.seed)
    tf.config.experimental.enable_op_determinism()  # exact resume needs deterministic kernels
    previous_policy = keras.mixed_precision.dtype_policy()
    if recipe.mixed_precision:
        keras.mixed_precision.set_dtype_policy(f"mixed_{recipe.mixed_precision}")
    chief = _is_chief()
    if not chief:  # workers write their (discarded) files apart from the chief's
        out_dir = os.path.join(out_dir, ".workers", str(json.loads(os.environ["TF_CONFIG"])["task"]["index"]))
    os.makedirs(out_dir, exist_ok=True)
    dump_recipe(recipe, os.path.join(out_dir, "recipe.yaml"))
    try:
        strategy = make_strategy()
        print(f"Training on {strategy.num_replicas_in_sync} replica(s) with a global batch of {recipe.batch_size}.")
        train_records = load_split(recipe, data_dir, "train")
        if not train_records:
            raise ValueError(f"No training records in {recipe.train_annotations!r} under {data_dir!r}.")
        mix_records = load_split(recipe, data_dir, "mix") if recipe.mix_dataset else None
        val_records = load_split(recipe, data_dir, "val") if recipe.validate else []
        steps = recipe.steps_per_epoch or max(1, len(train_records) // recipe.batch_size)
        backup_dir = os.path.join(out_dir, "backup")
        initial_epoch = backup_epoch(backup_dir)
        if initial_epoch:
            print(f"Resuming from {latest_backup(backup_dir)} (epoch {initial_epoch}).")
        dataset = training_stream(recipe, train_records, mix_records, steps, initial_epoch)
        validation, validation_steps = None, None
        if val_records:
            validation_steps = -(-len(val_records) // recipe.batch_size)
            validation = pipeline.make_dataset(
                val_records, recipe.skeleton, tuple(recipe.input_size), training=False,
                batch_size=recipe.batch_size, dims=3 if recipe.depth_bins else 2,
            ).repeat()  # with validation_steps, Keras reads on across epochs: one pass per epoch

        model = build_model(recipe, strategy)
        with strategy.scope():
            optimizer = keras.optimizers.Adam(learning_rate_schedule(recipe, steps))
            model.compile(optimizer=optimizer, jit_compile=recipe.jit_compile)
        if methods.get(recipe.method).two_phase:
            switch = recipe.phase_switch_epoch
            model.phase = 1 if switch is not None else 2
        monitor = "val_loss" if validation is not None else "loss"
        all_callbacks = [AtomicBackupAndRestore(backup_dir)]
        if recipe.phase_switch_epoch is not None:
            all_callbacks.append(PhaseSchedule(recipe.phase_switch_epoch))
        all_callbacks += [
            AtomicBestModel(os.path.join(out_dir, "best.keras"), monitor=monitor),
            keras.callbacks.CSVLogger(os.path.join(out_dir, "log.csv"), append=True),
            keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard"), write_graph=False),
            pipeline.SkippedImagesReport(dataset.skipped_images),
            *callbacks,
        ]
        history = model.fit(
            dataset, epochs=recipe.epochs, steps_per_epoch=steps, validation_data=validation,
            validation_steps=validation_steps,
            initial_epoch=initial_epoch, callbacks=all_callbacks, verbose=verbose, shuffle=False,
        )
        final = os.path.join(out_dir, "model.keras")
        model.save(final + ".tmp.keras")
        os.replace(final + ".tmp.keras", final)
        return model, history
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)


def train_in_processes(runs, processes=None, threads=1, verbose=0):
    """Trains several recipes at once, each in a fresh spawned process with `threads` CPU threads.

    On a small CPU, two trainings side by side with one thread each finish
    sooner than one after the other with two threads each: small convolutions
    do not split well across cores (README, "The demo").

    Args:
        runs: list of `(recipe, data_dir, out_dir)`.
        processes: trainings at a time; default: one per CPU core, at most
            `len(runs)`.
        threads: TensorFlow intra- and inter-op threads of each.
        verbose: Keras progress setting of each.

    Returns:
        list of the seconds each training took, in the order of `runs`; each
        run's model is in `out_dir/model.keras`.
    """
    import multiprocessing

    runs = list(runs)
    processes = processes or max(1, min(len(runs), os.cpu_count() or 1))
    context = multiprocessing.get_context("spawn")  # a fresh TensorFlow in each, with its own thread pools
    with context.Pool(processes, maxtasksperchild=1) as pool:
        jobs = [pool.apply_async(_train_timed, (*run, threads, verbose)) for run in runs]
        return [job.get() for job in jobs]


def _train_timed(recipe, data_dir, out_dir, threads, verbose):
    import time

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    start = time.perf_counter()
    train(recipe, data_dir, out_dir, verbose=verbose)
    return time.perf_counter() - start


def float32_model(model):
    """The same pose model with float32 layers (trained under mixed precision: float32 variables, bf16 maths).

    Evaluation and export run in float32, so the integral's sub-cell
    precision is not rounded to bfloat16's 8 bits.
    """
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("float32")
    try:
        copy = type(model).from_config(model.get_config())
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    copy.set_weights(model.get_weights())
    copy.phase = getattr(model, "phase", 1)
    return copy

"""Presets: a model as a folder of plain files, written by `save_preset` and read by `from_preset`.

A preset folder holds (the keras-hub layout):

    config.json        the model's Keras serialisation (`keras.saving.serialize_keras_object`)
    model.weights.h5   its weights (`model.save_weights`)
    metadata.json      skeleton, input size, metrics with the command that measured
                       them, source, licence, `weights_sha256` and `config_sha256`

`from_preset` (`zoo/load.py`) takes a registry name, a preset folder, or an
`https://` / `file://` URL of a `.tar.gz` made by `pack_preset`; downloads go
through the cache of `keras_integral/download.py`. Loading checks the weights against `weights_sha256`
(and the config against `config_sha256`, which presets saved before it
lack), deserialises the config in Keras safe mode, and refuses a weights file
whose variables are not exactly the model's (count and shapes, one to one).

Example:

>>> import keras_integral
>>> from keras_integral.zoo import save_preset
>>> save_preset(model, "my_preset", {"source": "trained on ...", "licence": "MIT"})  # doctest: +SKIP
>>> model = keras_integral.from_preset("my_preset")  # doctest: +SKIP
"""

import collections
import datetime
import gzip
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import h5py
import keras

from keras_integral import download
from keras_integral import models  # noqa: F401  (registers the serialisable classes)
from keras_integral.files import write_json
from keras_integral.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
# Copied from the model's get_config into metadata.json, so a preset can be
# understood (and listed) without building the model.
MODEL_FIELDS = ("method", "backbone", "skeleton", "input_size", "heatmap_size", "depth_bins",
                "two_step", "depth_range_mm", "decoding", "crop_margin", "integral_scale", "debias")
REQUIRED_METADATA = ("source", "licence")


def save_preset(model, preset_dir, metadata, overwrite=False):
    """Writes `model` as a preset folder: config, weights and metadata.

    The folder is written under a temporary name next to `preset_dir` and
    renamed into place when complete.

    Args:
        model: a built `keras.Model` whose `get_config` has `skeleton` and
            `input_size` (e.g. `IntegralPoseModel`).
        preset_dir: folder to create.
        metadata: dict with at least `source` (how the weights were made:
            recipe, data, schedule) and `licence`. Optional `metrics`: a
            dict `{name: {"value": float | None, "command": str, ...}}`
            where `command` is the exact command that measured `value`; a
            `None` value needs a `"note"` saying why. Other keys (e.g.
            `description`) are kept. Model fields (`method`, `skeleton`,
            `input_size`, ...) are filled in from the model.
        overwrite: replace an existing `preset_dir`.

    Returns:
        `pathlib.Path` of the preset folder.

    Raises:
        ValueError: bad metadata (the message names the field), a model
            field in `metadata` that contradicts the model, or an existing
            `preset_dir` without `overwrite`.

    Example:

    >>> save_preset(model, "i1_resnet18_coco_64x64",
    ...             {"source": "recipes/synthetic/quickstart.yaml", "licence": "MIT",
    ...              "metrics": {"pck@0.05": {"value": 0.91,
    ...                          "command": "keras-integral evaluate ..."}}})  # doctest: +SKIP
    """
    preset_dir = Path(preset_dir)
    if preset_dir.exists() and not overwrite:
        raise ValueError(f"Preset folder {preset_dir} already exists; pass overwrite=True to replace it.")
    full = _full_metadata(model, metadata)
    preset_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{preset_dir.name}-", dir=preset_dir.parent))
    try:
        model.save_weights(str(work / WEIGHTS_FILE))
        full["weights_sha256"] = download.sha256_file(work / WEIGHTS_FILE)
        write_json(work / CONFIG_FILE, keras.saving.serialize_keras_object(model), indent=2, sort_keys=True)
        full["config_sha256"] = download.sha256_file(work / CONFIG_FILE)
        write_json(work / METADATA_FILE, full, indent=2, sort_keys=True)
        if preset_dir.exists():
            shutil.rmtree(preset_dir)
        os.rename(work, preset_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return preset_dir


def _full_metadata(model, metadata):
    if not isinstance(metadata, dict):
        raise ValueError(f"`metadata` must be a dict, received {type(metadata).__name__}.")
    missing = [key for key in REQUIRED_METADATA if not metadata.get(key)]
    if missing:
        raise ValueError(
            f"`metadata` needs non-empty {missing} (how the weights were made, and their licence)."
        )
    metrics = metadata.get("metrics", {})
    if not isinstance(metrics, dict):
        raise ValueError(
            f"`metadata['metrics']` must be a dict of name -> {{value, command}}, received {metrics!r}."
        )
    for name, metric in metrics.items():
        if not isinstance(metric, dict) or "value" not in metric:
            raise ValueError(
                f"`metadata['metrics'][{name!r}]` must be a dict with 'value', received {metric!r}."
            )
        if metric["value"] is None and not metric.get("note"):
            raise ValueError(f"`metadata['metrics'][{name!r}]` has value None: add a 'note' saying why.")
        if metric["value"] is not None and not metric.get("command"):
            raise ValueError(
                f"`metadata['metrics'][{name!r}]` needs the 'command' that measured {metric['value']!r}."
            )
    config = model.get_config()
    if "skeleton" not in config or "input_size" not in config:
        raise ValueError(
            f"save_preset needs a pose model whose get_config has 'skeleton' and 'input_size'; "
            f"{type(model).__name__} has {sorted(config)}."
        )
    derived = {key: config[key] for key in MODEL_FIELDS if key in config}
    derived["input_size"] = list(derived["input_size"])
    for key, value in derived.items():
        if key in metadata and _jsonable(metadata[key]) != _jsonable(value):
            raise ValueError(
                f"`metadata[{key!r}]` = {metadata[key]!r} contradicts the model's {key} = {value!r}."
            )
    return {
        **metadata,
        **derived,
        "metrics": metrics,
        "class_name": type(model).__name__,
        "parameter_count": int(model.count_params()),
        "keras_version": keras.__version__,
        "keras_integral_version": __version__,
        "date_saved": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _jsonable(value):
    return json.loads(json.dumps(value))


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e


def load_preset(preset_dir, sha256=None):
    """Builds the model of a preset folder and loads its verified weights.

    Args:
        preset_dir: folder with `config.json`, `model.weights.h5` and
            `metadata.json`.
        sha256: optional expected SHA-256 of `model.weights.h5`, checked in
            addition to `metadata.json`'s `weights_sha256`.

    Returns:
        The `keras.Model` (e.g. `IntegralPoseModel`) with its weights.

    Raises:
        FileNotFoundError: a preset file is missing (the message names it).
        ChecksumMismatchError: the weights' SHA-256 differs from
            `weights_sha256` or `sha256`, or the config's from
            `config_sha256`.
        ValueError: `metadata.json` has no `weights_sha256`, the config
            does not describe a Keras model, or the weights file holds other
            variables than that model has.

    Example:

    >>> model = load_preset("i1_resnet18_coco_64x64")  # doctest: +SKIP
    """
    preset_dir = Path(preset_dir)
    for name in (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE):
        if not (preset_dir / name).is_file():
            raise FileNotFoundError(
                f"{preset_dir} is not a preset: {name} is missing (expected {CONFIG_FILE}, "
                f"{WEIGHTS_FILE}, {METADATA_FILE})."
            )
    metadata = _read_json(preset_dir / METADATA_FILE)
    recorded = metadata.get("weights_sha256")
    if not recorded:
        raise ValueError(f"{preset_dir / METADATA_FILE} has no 'weights_sha256'; cannot verify the weights.")
    actual = download.sha256_file(preset_dir / WEIGHTS_FILE)
    for expected, origin in ((recorded, METADATA_FILE), (sha256, "the `sha256` argument")):
        expected = download.check_sha256(expected, "sha256")
        if expected and actual != expected:
            raise download.ChecksumMismatchError(
                f"{preset_dir / WEIGHTS_FILE} has SHA-256 {actual}, but {origin} says {expected}; refused."
            )
    config_sha256 = download.check_sha256(metadata.get("config_sha256"), "config_sha256")
    if config_sha256 and download.sha256_file(preset_dir / CONFIG_FILE) != config_sha256:
        raise download.ChecksumMismatchError(
            f"{preset_dir / CONFIG_FILE} has changed since the preset was saved: its SHA-256 is not "
            f"{METADATA_FILE}'s config_sha256 {config_sha256}; refused."
        )
    config = _read_json(preset_dir / CONFIG_FILE)
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"{preset_dir / CONFIG_FILE} does not describe a model this package can build: {e}") from e
    if not isinstance(model, keras.Model):
        raise ValueError(f"{preset_dir / CONFIG_FILE} describes a {type(model).__name__}, not a keras.Model.")
    check_weights_match(model, preset_dir / WEIGHTS_FILE)
    model.load_weights(str(preset_dir / WEIGHTS_FILE))
    return model


def check_weights_match(model, weights_file):
    """Raises ValueError unless `weights_file` (a `.weights.h5`) holds exactly `model`'s variables.

    Keras loads a file with more variables than the model without a word
    (the extra ones are ignored); here the counts must be equal and the
    shapes the same, one to one. The optimizer's state (saved with a
    compiled model) is not the model's and is not compared.
    """
    shapes = []
    try:
        with h5py.File(weights_file, "r") as f:
            f.visititems(lambda name, item: shapes.append(tuple(item.shape))
                         if isinstance(item, h5py.Dataset) and name.split("/")[0] != "optimizer" else None)
    except OSError as e:
        raise ValueError(f"{weights_file} is not a readable .weights.h5 file: {e}") from e
    in_file = collections.Counter(shapes)
    in_model = collections.Counter(tuple(v.shape) for v in model.weights)
    if in_file != in_model:
        only_file = sorted((in_file - in_model).elements())[:3]
        only_model = sorted((in_model - in_file).elements())[:3]
        raise ValueError(
            f"{weights_file} holds {len(shapes)} variables, the model {model.name!r} of its config has "
            f"{len(model.weights)}: they do not match one to one (shapes only in the file: {only_file}, only "
            f"in the model: {only_model}). Were config and weights saved from the same model?"
        )


def pack_preset(preset_dir, archive=None, verbose=True):
    """Packs a preset folder into a reproducible `.tar.gz` for publishing, and reports its SHA-256.

    The archive holds `<name>/<file>` for every regular file of the folder,
    in sorted order with zeroed times and owners, so packing the same files
    twice gives the same bytes (and hash).

    Args:
        preset_dir: preset folder (checked with `load_preset`'s file list).
        archive: output path. Defaults to `<preset_dir>.tar.gz`.
        verbose: print `<sha256>  <archive>` (the `sha256sum` format).

    Returns:
        `(pathlib.Path of the archive, sha256 hex string)`.

    Example:

    >>> path, digest = pack_preset("i1_resnet18_coco_64x64")  # doctest: +SKIP
    3b1f...  i1_resnet18_coco_64x64.tar.gz
    """
    preset_dir = Path(preset_dir)
    for name in (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE):
        if not (preset_dir / name).is_file():
            raise FileNotFoundError(f"{preset_dir} is not a preset: {name} is missing.")
    archive = Path(archive) if archive else preset_dir.with_name(preset_dir.name + ".tar.gz")
    # Hidden files (a cache entry's .sha256sums) are not part of the preset.
    files = sorted(p for p in preset_dir.iterdir() if p.is_file() and not p.is_symlink()
                   and not p.name.startswith("."))
    partial = archive.with_name(f".{archive.name}.partial")
    try:
        with open(partial, "wb") as raw, \
                gzip.GzipFile("", "wb", compresslevel=6, fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for path in files:
                data = path.read_bytes()
                info = tarfile.TarInfo(f"{preset_dir.name}/{path.name}")
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
        os.replace(partial, archive)
    finally:
        if partial.exists():
            partial.unlink()
    digest = download.sha256_file(archive)
    if verbose:
        print(f"{digest}  {archive}")
    return archive, digest

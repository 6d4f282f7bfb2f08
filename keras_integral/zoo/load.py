"""`from_preset`: a model from a registry name, a preset folder, or a URL of a packed preset.

The zoo's entry point, above the rest of it: it reads the registry
(`registry.py`, which converts upstream files on first use) and loads
preset folders (`preset.py`).
"""

import os
from pathlib import Path

from keras_integral import download
from keras_integral.zoo import registry
from keras_integral.zoo.preset import load_preset


def from_preset(preset, sha256=None, progress=True):
    """Loads a model from a registry name, a preset folder, or a URL of a packed preset.

    Args:
        preset: one of
            - a registry name (`keras_integral.zoo.list_presets()`), e.g.
              `"coco_resnet50_mmpose_dsnt_256_hm64"`: its upstream file is
              downloaded once, checked and converted into the cache
              (`registry.download`), and the converted preset is loaded;
            - a preset folder on disk (see `save_preset`);
            - a local `.tar.gz` made by `pack_preset`;
            - an `https://` or `file://` URL of such a `.tar.gz`.
        sha256: expected SHA-256 of the archive (URL or `.tar.gz`), or of
            `model.weights.h5` (folder). Registry entries carry their own
            (an upstream file's hash or hash prefix).
        progress: show a download progress bar.

    Returns:
        The `keras.Model` with its weights.

    Raises:
        ValueError: `preset` is none of the above (the message lists the
            registry names).
        PresetUnavailableError: an unreachable URL;
            `WeightsUnavailableError` (a subclass) for a registry preset's
            upstream file, naming its URL and the cache path to put it at.
        ChecksumMismatchError: a download or cached file of another hash
            (nothing converted is cached).
        UnsafeArchiveError: see `download.fetch`; `pth.UnsafeCheckpointError`,
            `MissingTensorError`, `UnusedTensorError`, `TensorShapeError`:
            see the converters.

    Example:

    >>> import numpy as np, keras_integral
    >>> model = keras_integral.from_preset("coco_resnet50_mmpose_dsnt_256_hm64")  # doctest: +SKIP
    >>> model = keras_integral.from_preset("file:///presets/i1_resnet18_coco_64x64.tar.gz")  # doctest: +SKIP
    >>> model.predict(np.zeros((1, 64, 64, 3), "uint8"))["keypoints"].shape  # doctest: +SKIP
    (1, 17, 2)
    """
    text = os.fspath(preset)
    if text.startswith(download.URL_SCHEMES):
        return load_preset(download.fetch(text, sha256=sha256, progress=progress))
    if os.path.isdir(text):
        return load_preset(text, sha256=sha256)
    if os.path.isfile(text) and text.endswith(".tar.gz"):
        url = Path(text).resolve().as_uri()
        return load_preset(download.fetch(url, sha256=sha256, progress=progress))
    if "://" in text:
        raise ValueError(f"Unsupported URL {text!r}: use one of {download.URL_SCHEMES}.")
    if sha256 is not None:
        raise ValueError(f"`sha256` is for folders and URLs; registry preset {text!r} carries its own.")
    return load_preset(registry.download(text, progress=progress))

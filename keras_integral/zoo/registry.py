"""The preset registry (`presets.json`): names, where their files live, and what they measure.

A preset is named after the recipe that trains it, `recipes/paper/<name>.yaml`
(`<dataset>_<backbone>_<method>_<input side>_hm<heat-map side>` in 2D,
`..._strategy<1|2>` in 3D; `I*` is spelled `istar`): one naming order for
both, e.g. `mpii_resnet50_i1_256_hm64`. An entry whose
`sha256` is null is listed but not published: asking for it raises
`PresetUnavailableError` with the URL where it will live, instead of trying
the network. The authors' two PyTorch checkpoints are listed separately as
importable sources (`keras-integral zoo convert`).

These functions back `keras-integral zoo list | download | info`; they
return plain data (lists, dicts, paths) for the CLI to print.

Example:

>>> from keras_integral.zoo import registry
>>> [p["name"] for p in registry.list_presets()][:1]
['mpii_resnet50_i1_256_hm64']
"""

import difflib
import functools
import json
from pathlib import Path

from keras_integral.download import PresetUnavailableError
from keras_integral.download import cache_dir
from keras_integral.download import check_sha256
from keras_integral.download import fetch

REGISTRY_FILE = Path(__file__).with_name("presets.json")


@functools.lru_cache(maxsize=1)
def _registry():
    with open(REGISTRY_FILE, encoding="utf-8") as f:
        return json.load(f)


def presets():
    """The registry's presets: `{name: entry dict}` (a copy)."""
    return json.loads(json.dumps(_registry()["presets"]))


def official_checkpoints():
    """The authors' released PyTorch checkpoints: `{file name: entry dict}` (a copy)."""
    return json.loads(json.dumps(_registry()["official_checkpoints"]))


def list_presets():
    """One row per registry entry, for `keras-integral zoo list`.

    Returns:
        A list of dicts with `name`, `kind` (`"preset"` or `"official
        checkpoint"`), `status`, `skeleton`, `input_size`, `metrics`
        (`{name: value or None}`) and `description`.

    Example:

    >>> rows = list_presets()
    >>> rows[0]["status"]
    'not yet published'
    """
    rows = []
    for name, entry in _registry()["presets"].items():
        rows.append({
            "name": name,
            "kind": "preset",
            "status": "published" if entry["sha256"] else entry["status"],
            "skeleton": entry["skeleton"],
            "input_size": entry["input_size"],
            "metrics": {k: m["value"] for k, m in entry["metrics"].items()},
            "description": entry["description"],
        })
    for name, entry in _registry()["official_checkpoints"].items():
        rows.append({
            "name": name,
            "kind": "official checkpoint",
            "status": "import with `keras-integral zoo convert`",
            "skeleton": entry["skeleton"],
            "input_size": entry["input_size"],
            "metrics": {"reported_by_authors": entry["reported_by_authors"]},
            "description": entry["description"],
        })
    return rows


def info(name):
    """Everything the registry knows about one preset or official checkpoint, for `zoo info`.

    Args:
        name: a preset name or an official checkpoint's file name.

    Returns:
        The entry as a dict, with `name`, `kind` and (for presets) whether
        a copy is in the local cache (`cached_at`, or None).

    Raises:
        ValueError: unknown name (the message lists the known names).

    Example:

    >>> info("mpii_resnet50_i1_256_hm64")["status"]
    'not yet published'
    """
    entry = _lookup(name)
    if name in _registry()["official_checkpoints"]:
        return {"name": name, "kind": "official checkpoint", **entry}
    cached = None
    if entry["sha256"]:
        folder = cache_dir() / "presets" / entry["sha256"]
        cached = str(folder) if (folder / "config.json").is_file() else None
    return {"name": name, "kind": "preset", **entry, "cached_at": cached}


def download(name, sha256=None, progress=True):
    """Downloads a registry preset into the cache (or finds it there) and returns its folder.

    Args:
        name: a preset name (see `list_presets`).
        sha256: optional; must equal the registry's hash if given.
        progress: show a progress bar.

    Returns:
        `pathlib.Path` of the preset folder in the cache.

    Raises:
        ValueError: unknown name (the message lists the known names), or
            `sha256` differs from the registry's.
        PresetUnavailableError: the preset is not published yet, the URL
            cannot be reached, or `name` is an official PyTorch checkpoint
            (those are imported with `keras-integral zoo convert`).

    Example:

    >>> download("mpii_resnet50_i1_256_hm64")  # doctest: +SKIP
    PosixPath('/home/me/.cache/keras_integral/presets/...')
    """
    entry = _lookup(name)
    if name in _registry()["official_checkpoints"]:
        raise PresetUnavailableError(
            f"{name!r} is one of the authors' PyTorch checkpoints, not a preset: download it from "
            f"{entry['url']} and import it with `{entry['import']}` (needs torch: pip install "
            "'keras-integral[convert]'), then load OUT_DIR with from_preset."
        )
    if not entry["sha256"]:
        raise PresetUnavailableError(
            f"Preset {name!r} is listed but {entry['status']}: its files will live at {entry['url']}. "
            "Use a preset folder or a file:// URL of your own (keras_integral.zoo.save_preset), "
            "or train it with the library's recipes."
        )
    expected = check_sha256(sha256)
    if expected and expected != entry["sha256"]:
        raise ValueError(
            f"`sha256` {expected} differs from the registry's {entry['sha256']} for preset {name!r}."
        )
    return fetch(entry["url"], sha256=entry["sha256"], progress=progress)


def _lookup(name):
    registry = _registry()
    if name in registry["presets"]:
        return registry["presets"][name]
    if name in registry["official_checkpoints"]:
        return registry["official_checkpoints"][name]
    known = list(registry["presets"]) + list(registry["official_checkpoints"])
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"Unknown preset {name!r}: not a registry name, a preset folder, or an https:// / file:// "
        f"URL.{hint} Known presets: {', '.join(known)}."
    )

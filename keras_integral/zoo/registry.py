"""The preset registry (`presets.json`): names, their upstream sources, and converting those on first use.

A preset is listed only with a real source: a published file (`source.url`),
the SHA-256 or the hash prefix its publisher gives (`source.sha256_prefix`;
null where none is published, said in `source.hash_note`), the converter of
its format (`source.format`: `"mmpose"` -> `convert_mmpose`, `"authors"` ->
`convert_official`, with `source.convert`'s arguments), its licence, and the
metric its publisher reported with the protocol (`reported`; not measured
here). Names follow `<dataset>_<backbone>_<method>_<input>_hm<heat map>`.

`download(name)` (what `from_preset(name)` calls) goes, once:

    source.url -> $KERAS_INTEGRAL_HOME/upstream/<file name>     `download.fetch_file`: hash checked,
                                                                a file put there by hand is used
               -> convert, every tensor checked                 `convert_mmpose` / `convert_official`
               -> $KERAS_INTEGRAL_HOME/converted/<name>/        a native preset (`save_preset`)

and from then on returns the converted folder (`load_preset` checks its
weights against its own hashes) while its recorded `upstream_sha256` starts
with the registry's prefix (a registry naming another file converts anew). Offline with an empty cache, the error
names the URL and the exact path to place the file at; a file there of
another hash is refused and nothing converted is cached.

Example:

>>> from keras_integral.zoo import registry
>>> [p["name"] for p in registry.list_presets()][:1]
['coco_resnet50_mmpose_ipr_256_hm64']
"""

import difflib
import functools
import json
import re
from pathlib import Path
from pathlib import PurePosixPath
from urllib.parse import urlparse

from keras_integral.download import cache_dir
from keras_integral.download import fetch_file
from keras_integral.download import sha256_file
from keras_integral.zoo import convert_mmpose
from keras_integral.zoo import convert_official
from keras_integral.zoo.preset import METADATA_FILE

REGISTRY_FILE = Path(__file__).with_name("presets.json")
# source.format -> the converter: convert(path, out_dir, **source.convert, metadata=..., overwrite=...).
CONVERTERS = {"mmpose": convert_mmpose.convert, "authors": convert_official.convert}


@functools.lru_cache(maxsize=1)
def _registry():
    with open(REGISTRY_FILE, encoding="utf-8") as f:
        return json.load(f)


def presets():
    """The registry's presets: `{name: entry dict}` (a copy)."""
    return json.loads(json.dumps(_registry()["presets"]))


def upstream_path(name):
    """Where the cache keeps preset `name`'s upstream file: `$KERAS_INTEGRAL_HOME/upstream/<file name>`."""
    return cache_dir() / "upstream" / upstream_file_name(_lookup(name)["source"]["url"])


def upstream_file_name(url):
    """The file name of an upstream URL (its path's last part; a Dropbox `?dl=1` query is not part of it)."""
    return PurePosixPath(urlparse(url).path).name


def converted_dir(name):
    """Where the cache keeps preset `name` once converted: `$KERAS_INTEGRAL_HOME/converted/<name>`."""
    _lookup(name)
    return cache_dir() / "converted" / name


def reported_text(entry):
    """One line for a preset's `reported` metric: value, metric, protocol."""
    reported = entry["reported"]
    return f"{reported['metric']} {reported['value']} ({reported['protocol']})"


def list_presets():
    """One row per preset, for `keras-integral zoo list`.

    Returns:
        A list of dicts with `name`, `source` (format and URL), `licence`,
        `reported` (one line), `cached` (whether the converted preset is in
        the cache), `skeleton`, `input_size` and `description`.

    Example:

    >>> sorted(list_presets()[0])
    ['cached', 'description', 'input_size', 'licence', 'name', 'reported', 'skeleton', 'source']
    """
    return [{
        "name": name,
        "source": f"{entry['source']['format']}: {entry['source']['url']}",
        "licence": entry["licence"],
        "reported": reported_text(entry),
        "cached": _is_converted(name),
        "skeleton": entry["skeleton"],
        "input_size": entry["input_size"],
        "description": entry["description"],
    } for name, entry in _registry()["presets"].items()]


def info(name):
    """Everything the registry knows about one preset, and where the cache keeps it, for `zoo info`.

    Returns:
        The entry as a dict with `name`, `upstream_path` (and whether the
        file is there) and `cached_at` (the converted preset's folder, or None).

    Raises:
        ValueError: unknown name (the message lists the known names).
    """
    entry = _lookup(name)
    path = upstream_path(name)
    return {"name": name, **json.loads(json.dumps(entry)), "upstream_path": str(path),
            "upstream_present": path.is_file(),
            "cached_at": str(converted_dir(name)) if _is_converted(name) else None}


def download(name, progress=True):
    """The converted preset folder of `name`: from the cache, or fetched, checked and converted once.

    Args:
        name: a preset name (see `list_presets`).
        progress: show a progress bar while downloading.

    Returns:
        `pathlib.Path` of the preset folder (`converted_dir(name)`).

    Raises:
        ValueError: unknown name (the message lists the known names).
        WeightsUnavailableError: the upstream file is not in the cache and
            cannot be downloaded; the message names the URL and the exact
            path (`upstream_path(name)`) to place it at by hand.
        ChecksumMismatchError: the download or the file at that path has
            another hash; nothing converted is cached.
        pth.UnsafeCheckpointError, MissingTensorError, UnusedTensorError,
            TensorShapeError: the file is not the network the preset says
            (nothing converted is cached).

    Example:

    >>> download("coco_resnet50_mmpose_dsnt_256_hm64")  # doctest: +SKIP
    PosixPath('/home/me/.cache/keras_integral/converted/coco_resnet50_mmpose_dsnt_256_hm64')
    """
    entry = _lookup(name)
    if _is_converted(name):
        return converted_dir(name)
    source = entry["source"]
    path = fetch_file(source["url"], upstream_path(name), source["sha256_prefix"], progress)
    return _convert(name, entry, path, converted_dir(name), overwrite=True)


def convert_file(path, out_dir, like=None, overwrite=False):
    """Converts a local upstream file with the architecture and decoding of preset `like` (`zoo convert`).

    Args:
        path: the upstream checkpoint (e.g. one fine-tuned with MMPose).
        out_dir: preset folder to write (`from_preset(out_dir)` loads it).
        like: a preset name; None recognises it from the file name (the
            published name, or one starting with its stem).
        overwrite: replace an existing `out_dir`.

    Returns:
        `(out_dir, like, note)`: the folder, the preset used, and a sentence
        saying how it was chosen and whether `path` is that preset's
        published file (by hash) or another file of its architecture.

    Raises:
        ValueError: `like` unknown, or not given and the file name matches no preset.
    """
    path = Path(path)
    if like is None:
        like = _recognise(path.name)
        chosen = f"recognised as {like!r} from its file name"
    else:
        _lookup(like)
        chosen = f"converted as {like!r} (--like)"
    entry = _lookup(like)
    prefix = entry["source"]["sha256_prefix"]
    digest = sha256_file(path)
    published = bool(prefix) and digest.startswith(prefix)
    if published:
        kind = f"it is {like!r}'s published file (SHA-256 starts with {prefix})"
    elif prefix:
        kind = (f"it is another file of {like!r}'s architecture (its SHA-256 {digest[:8]}... is not the "
                f"published {prefix}...)")
    else:
        kind = f"{like!r}'s publisher gives no hash, so whether it is the published file is not known"
    out = _convert(like, entry, path, out_dir, overwrite=overwrite, published=published)
    return out, like, f"{path.name}: {chosen}; {kind}."


def _convert(name, entry, path, out_dir, overwrite, published=True):
    source = entry["source"]
    metadata = {
        "description": entry["description"],
        "source": f"{upstream_file_name(source['url'])} from {source['url']}"
                  + ("" if published else f" (architecture of; converted from {Path(path).name})")
                  + f", converted by keras_integral.zoo (format {source['format']!r}), preset {name!r}",
        "licence": entry["licence"],
        "reported": entry["reported"] if published else None,
        "metrics": {},
    }
    return CONVERTERS[source["format"]](path, out_dir, **source["convert"], metadata=metadata, overwrite=overwrite)


def _is_converted(name):
    """Whether the cache holds `name` converted from the file the registry names now (its hash prefix)."""
    try:
        metadata = json.loads((converted_dir(name) / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    prefix = _lookup(name)["source"]["sha256_prefix"] or ""
    return str(metadata.get("upstream_sha256", "")).startswith(prefix)


def _recognise(file_name):
    for name, entry in _registry()["presets"].items():
        published = upstream_file_name(entry["source"]["url"])
        stem = re.sub(r"(-[0-9a-f]{8}_\d{8})?\.pth(\.tar)?$", "", published)
        if file_name == published or file_name.startswith(stem):
            return name
    raise ValueError(
        f"Cannot tell which preset {file_name!r} belongs to from its name; pass --like NAME, one of "
        f"{', '.join(_registry()['presets'])}."
    )


def _lookup(name):
    registry = _registry()["presets"]
    if name in registry:
        return registry[name]
    close = difflib.get_close_matches(str(name), list(registry), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"Unknown preset {name!r}: not a registry name, a preset folder, or an https:// / file:// "
        f"URL.{hint} Known presets: {', '.join(registry)}."
    )


__all__ = ["convert_file", "converted_dir", "download", "info", "list_presets",
           "presets", "upstream_path"]

"""torchvision's ImageNet ResNets: where the checkpoints are, and how a state dict maps onto `ResNetBackbone`.

`ResNetBackbone(depth, weights="imagenet")` starts where the paper's
ResNets started (section 5; the authors' code loads torchvision's model
zoo, `reference/authors-code.md` section 4): it fetches torchvision's
`ResNet<depth>_Weights.IMAGENET1K_V1` checkpoint once into the cache,
checks it the way `torch.hub` does (the file name carries the first hex
digits of its SHA-256), reads it without torch (`keras_integral/pth.py`) and copies
every tensor onto the layer of the same name:

- `conv.weight` `(out, in, kh, kw)` -> Keras kernel `(kh, kw, in, out)`;
- BN `weight, bias, running_mean, running_var` -> `gamma, beta,
  moving_mean, moving_variance` (both eps 1e-5); `num_batches_tracked` and
  the classifier `fc.*` are not used.

Layer `layer2_0_downsample_0` holds `layer2.0.downsample.0.weight`: names
are the keys with "." -> "_" (`models/backbones/resnet.py`).

Cache: `$KERAS_INTEGRAL_HOME/torchvision/<file name>` (default
`~/.cache/keras_integral/torchvision/`). Offline, put the file there by
hand (`imagenet_checkpoint_path(depth)` says where).

Example:

>>> from keras_integral.models.backbones import ResNetBackbone
>>> backbone = ResNetBackbone(depth=50, weights="imagenet")  # doctest: +SKIP
>>> imagenet_checkpoint_path(50)  # doctest: +SKIP
PosixPath('/home/me/.cache/keras_integral/torchvision/resnet50-0676ba61.pth')
"""

import os
import re
from pathlib import PurePosixPath
from urllib.parse import urlparse

from keras_integral import download
from keras_integral import pth
from keras_integral.models.backbones.resnet_layout import RESNET_DEPTHS

# depth -> torchvision/models/resnet.py, ResNet<depth>_Weights.IMAGENET1K_V1 (what torchvision's
# legacy `pretrained=True` loads). ImageNet-1K top-1 there: 69.758, 73.314, 76.130, 77.374, 78.312.
IMAGENET_V1_URLS = {
    18: "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    34: "https://download.pytorch.org/models/resnet34-b627a593.pth",
    50: "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    101: "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    152: "https://download.pytorch.org/models/resnet152-394f9c45.pth",
}
# torch.hub's HASH_REGEX: "<name>-<first hex digits of the SHA-256>.<extension>".
HASH_PREFIX = re.compile(r"-([a-f0-9]*)\.")
_IGNORED = ("num_batches_tracked",)
_CLASSIFIER_PREFIX = "fc."
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def hash_prefix(url):
    """The SHA-256 prefix a torch.hub file name carries (`resnet50-0676ba61.pth` -> `0676ba61`), or None."""
    match = HASH_PREFIX.search(PurePosixPath(urlparse(url).path).name)
    return match.group(1) if match else None


def imagenet_checkpoint_path(depth):
    """Where the cache keeps torchvision's ImageNet checkpoint of ResNet-`depth`.

    Returns:
        `pathlib.Path` (`$KERAS_INTEGRAL_HOME/torchvision/resnet<depth>-<hash>.pth`).
    """
    url = _imagenet_url(depth)
    return download.cache_dir() / "torchvision" / PurePosixPath(urlparse(url).path).name


def fetch_imagenet_checkpoint(depth, progress=True):
    """Downloads (once) and verifies torchvision's ImageNet checkpoint of ResNet-`depth`.

    Args:
        depth: 18, 34, 50, 101 or 152.
        progress: show a progress bar while downloading.

    Returns:
        `pathlib.Path` of the verified `.pth` in the cache.

    Raises:
        WeightsUnavailableError: offline with an empty cache (the message
            names the URL and the path to place the file at).
        ChecksumMismatchError: its SHA-256 does not start with the prefix in
            its name (nothing is cached).

    Example:

    >>> fetch_imagenet_checkpoint(18)  # doctest: +SKIP
    PosixPath('/home/me/.cache/keras_integral/torchvision/resnet18-f37072fd.pth')
    """
    url = _imagenet_url(depth)
    return download.fetch_file(url, imagenet_checkpoint_path(depth), hash_prefix(url), progress)


def load_resnet_weights(backbone, weights, progress=True):
    """Loads torchvision weights into a `ResNetBackbone`: `"imagenet"` or a local `.pth` state dict.

    Args:
        backbone: the `ResNetBackbone` (any input size).
        weights: `"imagenet"` (torchvision's `IMAGENET1K_V1` for its depth,
            from the cache or downloaded) or the path of a `.pth` file
            holding a torchvision ResNet `state_dict()`.
        progress: progress bar for a download.

    Raises:
        ValueError: the state dict does not fit the backbone; the message
            names the first mismatching key (and the depth the file is).
        WeightsUnavailableError, ChecksumMismatchError: see
            `fetch_imagenet_checkpoint`.

    Example:

    >>> load_resnet_weights(ResNetBackbone(depth=18), "resnet18-f37072fd.pth")  # doctest: +SKIP
    """
    if weights == "imagenet":
        path = fetch_imagenet_checkpoint(backbone.depth, progress)
    else:
        path = os.fspath(weights)
        if not path.endswith(pth.PTH_SUFFIXES):
            raise ValueError(
                f"`weights` of {backbone.name} must be None, \"imagenet\", a torchvision state dict "
                f"({', '.join(pth.PTH_SUFFIXES)}) or a Keras '.weights.h5' file; received {weights!r}."
            )
    state = pth.load_state_dict(path)
    used = set_resnet_state(backbone, state, source=str(path))
    # A ResNet cut after a stage (`resnet18_stride8`) takes the first stages of the checkpoint.
    cut_stages = tuple(f"layer{i}." for i in range(getattr(backbone, "num_stages", 4) + 1, 5))
    unused = [k for k in state if k not in used and not k.endswith(_IGNORED)
              and not k.startswith(_CLASSIFIER_PREFIX) and not (cut_stages and k.startswith(cut_stages))]
    if unused:
        raise pth.UnusedTensorError(
            f"{path}: key {unused[0]!r} has no layer in {backbone.name}"
            f"{_depth_hint(state, '')} ({len(unused)} unused tensors)."
        )


def set_resnet_state(backbone, state, prefix="", source="the state dict"):
    """Copies a torchvision-layout state dict onto a `ResNetBackbone`'s layers; all or nothing.

    Every Conv2D and BatchNormalization of the backbone takes the tensors
    named `prefix + layer name with "_" -> "."` (`backbone.layer1.0.conv1`
    for `prefix="backbone."`). Nothing is assigned unless every layer's
    tensors are present with the right shapes.

    Args:
        backbone: the `ResNetBackbone`.
        state: dict from key to NumPy array (`pth.load_state_dict`).
        prefix: the keys' prefix (`""` for torchvision, `"backbone."` for
            the authors' `ResPoseNet`).
        source: the file, for error messages.

    Returns:
        The set of keys used.

    Raises:
        MissingTensorError, TensorShapeError (`pth`, both ValueErrors): a
            key is missing or has the wrong shape (the first in the
            backbone's layer order is named).
    """
    used, assignments = set(), []
    for layer in backbone.layers:
        if not layer.weights:
            continue
        key = prefix + layer.name.replace("_", ".")
        kind = type(layer).__name__
        if kind == "Conv2D":
            names, convert = [key + ".weight"], lambda a: a.transpose(2, 3, 1, 0)
        elif kind == "BatchNormalization":
            names, convert = [f"{key}.{n}" for n in _BN_KEYS], lambda a: a
        else:
            raise ValueError(f"No torchvision mapping for layer {layer.name!r} ({kind}).")
        values = []
        for name, variable in zip(names, layer.weights):
            if name not in state:
                raise pth.MissingTensorError(
                    f"{source}: no tensor {name!r}, needed by {backbone.name}'s layer {layer.name!r}"
                    f"{_depth_hint(state, prefix)}."
                )
            value = convert(state[name])
            if tuple(value.shape) != tuple(variable.shape):
                raise pth.TensorShapeError(
                    f"{source}: {name!r} has shape {tuple(state[name].shape)}, {backbone.name}'s layer "
                    f"{layer.name!r} needs {_torch_shape(variable.shape, kind)}"
                    f"{_depth_hint(state, prefix)}."
                )
            values.append(value)
            used.add(name)
        assignments.append((layer, values))
    for layer, values in assignments:
        layer.set_weights(values)
    return used


def _torch_shape(keras_shape, kind):
    """A Keras weight shape as the PyTorch tensor shape it comes from."""
    if kind == "Conv2D":
        kh, kw, cin, cout = keras_shape
        return (cout, cin, kh, kw)
    return tuple(keras_shape)


def resnet_depth(state, prefix=""):
    """The torchvision ResNet depth of a state dict, from its blocks per stage.

    Args:
        state: dict of tensors with keys `prefix + "layer<s>.<b>...."`.
        prefix: the keys' prefix.

    Returns:
        18, 34, 50, 101 or 152.

    Raises:
        ValueError: the blocks are no torchvision ResNet.
    """
    blocks = {}
    pattern = re.compile(re.escape(prefix) + r"layer(\d)\.(\d+)\.")
    for key in state:
        match = pattern.match(key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks[stage] = max(blocks.get(stage, 0), block + 1)
    counts = tuple(blocks.get(stage, 0) for stage in (1, 2, 3, 4))
    kind = "bottleneck" if f"{prefix}layer1.0.conv3.weight" in state else "basic"
    for depth, spec in RESNET_DEPTHS.items():
        if spec == (kind, counts):
            return depth
    raise ValueError(
        f"The backbone has {kind} blocks {counts} per stage, which is no torchvision ResNet "
        f"(known: {dict(RESNET_DEPTHS)})."
    )


def _depth_hint(state, prefix):
    try:
        return f"; the file holds a ResNet-{resnet_depth(state, prefix)}"
    except ValueError:
        return "; the file is no torchvision ResNet"


def _imagenet_url(depth):
    if depth not in IMAGENET_V1_URLS:
        raise ValueError(f"No ImageNet checkpoint for ResNet-{depth}; known depths: {sorted(IMAGENET_V1_URLS)}.")
    return IMAGENET_V1_URLS[depth]

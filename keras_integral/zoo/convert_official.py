"""Import the authors' PyTorch checkpoints (JimmySuen/integral-human-pose) as presets.

Their `.pth.tar` files are `torch.save` dicts (`epoch`, `network`,
`optimizer`, ...) whose `network` is the state dict of
`DataParallel(ResPoseNet)`: `module.backbone.*` in torchvision ResNet names
and `module.head.features.N.*` for their `DeconvHead` (N = 3i: the i-th 4x4
transposed conv, 3i + 1: its BN, 3n: the final 1x1 conv with bias).
`reference/authors-code.md`, sections 4-5.

The mapping onto `IntegralPoseModel` (method `I*`, `decoding="authors"`):

- conv kernels `(out, in, kh, kw)` -> `(kh, kw, in, out)`; transposed-conv
  kernels `(in, out, kh, kw)` -> `(kh, kw, out, in)`: both `transpose(2, 3, 1, 0)`;
- BN `weight, bias, running_mean, running_var` -> `gamma, beta, moving_mean,
  moving_variance` (both eps 1e-5); `num_batches_tracked` is ignored;
- the final conv's channels: theirs are joint-major `c = k * D + d`, ours
  depth-major `c = d * K + k`, so the output channels are permuted;
- their decoding (cell index x stride, `z = (E[d] / D - 0.5)`) is kept with
  `decoding="authors"`, so the converted model predicts their pixels.
  `z` comes out as `z_normalised * depth_range_mm`: millimetres for their
  paper project (2000 mm depth span); for the challenge checkpoints depth was
  normalised by the crop-box width (`depth_in_image`), so there
  `z / depth_range_mm * box_width` is depth in image pixels.

The ResNet depth, the number and width of the deconvolutions and `K * D`
come from the state dict; `K` from `skeleton`, `D = channels / K`; the input
size is an argument (their challenge default 384x288).

The file is read without torch and without running code from it
(`keras_integral/pth.py`); the backbone's tensors map as torchvision's do
(`models/backbones/torchvision.py`).

Example:

>>> from keras_integral.zoo import convert_official
>>> convert_official.convert("model_chall_train_152ft_384x288.pth.tar",
...                          "presets/official_chall_train")  # doctest: +SKIP
PosixPath('presets/official_chall_train')
"""

import re
from pathlib import Path

import numpy as np

from keras_integral import pth
from keras_integral import skeletons
from keras_integral.download import sha256_file
from keras_integral.models.backbones import backbone_stride
from keras_integral.models.backbones import torchvision
from keras_integral.models.pose_model import IntegralPoseModel
from keras_integral.zoo.preset import save_preset

AUTHORS_LICENCE = "MIT, (c) Microsoft 2017 (github.com/JimmySuen/integral-human-pose)"
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def load_checkpoint(path):
    """Reads an authors' `.pth.tar` into `{key: float32 array}` without the `module.` prefix.

    Accepts their training checkpoint (a dict with `network`) or a bare
    state dict, saved by any torch version (their files use the legacy
    pre-1.6 format). Read by `pth.load_pth`, without torch: no code from
    the file runs.

    Args:
        path: the checkpoint file.

    Returns:
        `(state, extra)`: the network state dict as NumPy arrays, and the
        checkpoint's scalar entries (e.g. `epoch`).

    Raises:
        UnsafeCheckpointError: the file names a global a checkpoint does not need.
        ValueError: the file holds no network state dict.

    Example:

    >>> state, extra = load_checkpoint("model_chall_train_152ft_384x288.pth.tar")  # doctest: +SKIP
    >>> state["backbone.conv1.weight"].shape  # doctest: +SKIP
    (64, 3, 7, 7)
    """
    checkpoint = pth.load_pth(path)
    network = checkpoint.get("network", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(network, dict) or not any(str(k).endswith("conv1.weight") for k in network):
        found = sorted(checkpoint)[:10] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(
            f"{path}: expected the authors' checkpoint (a dict with a 'network' state dict of "
            f"'module.backbone.*' / 'module.head.*' tensors), found {found}."
        )
    state = {}
    for key, value in network.items():
        key = key[len("module."):] if key.startswith("module.") else key
        state[key] = np.asarray(value)
    extra = {k: v for k, v in checkpoint.items() if isinstance(v, (int, float, str))}
    return state, extra


def network_config(state, input_size=(384, 288), skeleton="h36m18", depth_range_mm=2000.0):
    """The `IntegralPoseModel` arguments that reproduce a state dict of their `ResPoseNet`.

    Args:
        state: state dict from `load_checkpoint`.
        input_size: `(height, width)` the network was trained at, in pixels
            (multiples of 32). Their challenge default is `(384, 288)`, the
            paper project's `(256, 256)`.
        skeleton: joint set of the final conv, `"h36m18"` (their 18 joints)
            or `"h36m"` (17).
        depth_range_mm: depth span of the bins (their `rect_3d_width`, 2000).

    Returns:
        dict of `IntegralPoseModel` keyword arguments.

    Raises:
        ValueError: a structure this importer cannot map (the message says
            which key or shape).

    Example:

    >>> network_config(state)  # doctest: +SKIP
    {'backbone': 'resnet152', 'method': 'I*', 'skeleton': 'h36m18', 'input_size': (384, 288),
     'heatmap_size': (96, 72), 'depth_bins': 72, 'head_filters': 256, 'decoding': 'authors', ...}
    """
    depth = torchvision.resnet_depth(state, prefix="backbone.")
    num_deconv, filters, channels = _head_structure(state)
    joints = skeletons.get(skeleton).num_joints
    if channels % joints:
        raise ValueError(
            f"The final conv has {channels} channels, not a multiple of the {joints} joints of "
            f"skeleton {skeleton!r}; pass the skeleton the checkpoint was trained with."
        )
    input_size = tuple(int(s) for s in input_size)
    stride = backbone_stride(f"resnet{depth}")
    if any(s % stride for s in input_size):
        raise ValueError(f"`input_size` {input_size} must be multiples of {stride} (their ResNet).")
    scale = 2**num_deconv
    return {
        "backbone": f"resnet{depth}",
        "method": "I*",
        "skeleton": skeleton,
        "input_size": input_size,
        "heatmap_size": (input_size[0] // stride * scale, input_size[1] // stride * scale),
        "depth_bins": channels // joints,
        "depth_range_mm": float(depth_range_mm),
        "head_filters": filters,
        "decoding": "authors",
    }


def _head_structure(state):
    """(number of deconvolutions, their filters, final conv channels) of their DeconvHead."""
    indices = sorted({int(m.group(1)) for k in state if (m := re.match(r"head\.features\.(\d+)\.", k))})
    if not indices:
        raise ValueError("No 'head.features.N.*' keys: not the authors' ResPoseNet with a DeconvHead.")
    final = indices[-1]
    if final % 3 or f"head.features.{final}.bias" not in state:
        raise ValueError(
            f"head.features.{final} is not a final conv with bias (their with_bias_end=True); "
            "a head ending in BN + ReLU cannot be mapped onto IntegralPoseModel."
        )
    num_deconv = final // 3
    filters = None
    for i in range(num_deconv):
        kernel = state[f"head.features.{3 * i}.weight"]
        if kernel.shape[2:] != (4, 4):
            raise ValueError(
                f"head.features.{3 * i} has a {kernel.shape[2]}x{kernel.shape[3]} kernel; "
                "IntegralPoseModel builds 4x4 stride-2 deconvolutions (their default)."
            )
        filters = kernel.shape[1]
    conv = state[f"head.features.{final}.weight"]
    if conv.shape[2:] != (1, 1):
        raise ValueError(
            f"head.features.{final} is a {conv.shape[2]}x{conv.shape[3]} conv; IntegralPoseModel's "
            "final conv is 1x1 (their default)."
        )
    return num_deconv, filters or conv.shape[1], conv.shape[0]


def build_model(state, **config):
    """Builds the `IntegralPoseModel` of `network_config(state, ...)` and loads the weights.

    Every tensor of the state dict is used exactly once (BN's
    `num_batches_tracked` excepted), and every model weight is set.

    Args:
        state: state dict from `load_checkpoint`.
        **config: `input_size`, `skeleton`, `depth_range_mm` for
            `network_config`.

    Returns:
        The `IntegralPoseModel`.

    Example:

    >>> model = build_model(state, input_size=(384, 288))  # doctest: +SKIP
    """
    kwargs = network_config(state, **config)
    model = IntegralPoseModel(**kwargs)
    joints = skeletons.get(kwargs["skeleton"]).num_joints
    used = set()

    def take(key):
        if key not in state:
            raise pth.MissingTensorError(f"The checkpoint has no {key!r}, needed by the model's {kwargs['backbone']}.")
        used.add(key)
        return state[key]

    def bn(prefix):
        return [take(f"{prefix}.{name}") for name in _BN_KEYS]

    used |= torchvision.set_resnet_state(model.get_layer(kwargs["backbone"]), state, prefix="backbone.")
    head = model.get_layer("head")
    for i, (deconv, norm) in enumerate(zip(head.deconvs, head.norms)):
        deconv.set_weights([take(f"head.features.{3 * i}.weight").transpose(2, 3, 1, 0)])
        norm.set_weights(bn(f"head.features.{3 * i + 1}"))
    final = f"head.features.{3 * len(head.deconvs)}"
    kernel, bias = take(final + ".weight"), take(final + ".bias")
    depth_bins = kwargs["depth_bins"]
    # Theirs c = k * D + d (joint-major); ours c = d * K + k (depth-major, DESIGN.md).
    order = np.arange(joints * depth_bins).reshape(joints, depth_bins).T.reshape(-1)
    head.final_conv.set_weights([kernel[order].transpose(2, 3, 1, 0), bias[order]])
    unused = sorted(k for k in state if k not in used and not k.endswith("num_batches_tracked"))
    if unused:
        raise pth.UnusedTensorError(f"The checkpoint has tensors this importer does not map: {unused[:10]}.")
    return model


def convert(path, out_dir, input_size=(384, 288), skeleton="h36m18", depth_range_mm=2000.0,
            metadata=None, overwrite=False):
    """Converts an authors' checkpoint into a preset folder (`keras-integral zoo convert`).

    Args:
        path: the `.pth.tar` file (e.g. `model_chall_train_152ft_384x288.pth.tar`).
        out_dir: preset folder to write.
        input_size: `(height, width)` in pixels the checkpoint was trained at;
            their challenge models: `(384, 288)`, their paper project:
            `(256, 256)`.
        skeleton: `"h36m18"` (their 18 joints) or `"h36m"`.
        depth_range_mm: their `rect_3d_width` (2000).
        metadata: extra preset metadata (the registry's `description`,
            `source`, `reported`, ...), over the defaults below.
        overwrite: replace an existing `out_dir`.

    Returns:
        `pathlib.Path` of the preset folder; load it with `from_preset`.

    Example:

    >>> convert("model_chall_train_152ft_384x288.pth.tar", "chall_train")  # doctest: +SKIP
    PosixPath('chall_train')
    """
    state, extra = load_checkpoint(path)
    model = build_model(state, input_size=input_size, skeleton=skeleton, depth_range_mm=depth_range_mm)
    name = Path(path).name
    digest = sha256_file(path)
    full = {
        "description": f"The authors' checkpoint {name}, converted from PyTorch.",
        "source": f"{name} (sha256 {digest}, epoch {extra.get('epoch')}) from "
                  "github.com/JimmySuen/integral-human-pose, converted by "
                  "keras_integral.zoo.convert_official",
        "licence": AUTHORS_LICENCE,
        "conversion": {
            "call": f"keras_integral.zoo.convert_official.convert({name!r}, {Path(out_dir).name!r}, "
                    f"input_size={tuple(input_size)}, skeleton={skeleton!r}, "
                    f"depth_range_mm={float(depth_range_mm)})",
            "depth_units": "z = normalised depth x depth_range_mm: mm for their paper project; for "
                           "the challenge checkpoints (depth normalised by the crop-box width), "
                           "z / depth_range_mm x box width is depth in image pixels",
        },
        "metrics": {},
        **(metadata or {}),
        "upstream_sha256": digest,
    }
    return save_preset(model, out_dir, full, overwrite=overwrite)

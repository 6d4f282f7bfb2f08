"""Import MMPose's integral-regression checkpoints (IPR, DSNT, debias-IPR on a ResNet) as presets.

MMPose's files (`configs/body_2d_keypoint/integral_regression/coco/`) are
`torch.save` dicts with `meta` (mmengine's: `dataset_meta` with NumPy
arrays, the config text, ...) and `state_dict`, written by MMPose's
`tools/misc/publish_model.py` in torch's legacy layout. All three configs
build a `DSNTHead` (a subclass of `IntegralRegressionHead`; IPR differs
only in its training loss) on MMPose's `ResNet`, whose keys are
torchvision's:

    backbone.conv1 / bn1 / layer<s>.<b>.{conv,bn}<n> / .downsample.{0,1}    ResNet
    head.simplebaseline_head.deconv_layers.{3i}        ConvTranspose2d 4x4 s2, no bias
    head.simplebaseline_head.deconv_layers.{3i + 1}    BatchNorm2d (3i + 2 is the ReLU)
    head.simplebaseline_head.final_layer               Conv2d 1x1 with bias, one channel per joint
    head.linspace_x, head.linspace_y                   arange(w) / w, arange(h) / h

Decoding (MMPose's `IntegralRegressionHead.forward`, `RegressionLabel.decode`):
`softmax(beta * maps)`, the expectation of `linspace`, times the input size:
cell j at `j * W / w` (`decoding="mmpose"`, codec.py); debias-IPR (beta 10)
adds Gu et al.'s correction (`IntegralPoseModel(debias=True)`). Images go in
as RGB normalised by ImageNet's mean and std (MMPose's `PoseDataPreprocessor`
with `bgr_to_rgb=True`), which is what our ResNet does inside.

The mapping is checked: every tensor of the file is taken exactly once (BN's
`num_batches_tracked` aside), none is missing and every shape fits, else
`pth.UnusedTensorError` / `MissingTensorError` / `TensorShapeError` names
the first offending key. The linspace buffers are not weights but must hold
exactly `arange(n) / n`, the decoding this converter reproduces.

The variant (debias, beta) is not in the state dict: it comes from the
preset the file belongs to (`presets.json`, `source.convert`).

Example:

>>> from keras_integral.zoo import convert_mmpose
>>> convert_mmpose.convert("ipr_res50_dsnt-8xb64-210e_coco-256x256-441eedc0_20220913.pth",
...                        "dsnt_preset")  # doctest: +SKIP
PosixPath('dsnt_preset')
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

HEAD = "head.simplebaseline_head."
# MMPose's own `_load_state_dict_pre_hook` renames the heads of its older files the same way.
_OLD_HEAD_NAMES = (("head.conv_layers.", HEAD + "deconv_layers."), ("head.final_layer.", HEAD + "final_layer."))
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")
_IGNORED = ("num_batches_tracked",)


def load_checkpoint(path):
    """Reads an MMPose checkpoint into `(state, meta)` without torch and without running its code.

    Args:
        path: the `.pth` file (`{"meta": ..., "state_dict": ...}`, or a bare
            state dict).

    Returns:
        `(state, meta)`: `{key: float32 array}` with MMPose's key names (old
        head names renamed as MMPose does), and the `meta` dict (`{}` if none).

    Raises:
        UnsafeCheckpointError: the file names a global outside `pth`'s allow-list.
        ValueError: no state dict of tensors in it.
    """
    checkpoint = pth.load_pth(path)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or "backbone.conv1.weight" not in state:
        found = sorted(map(str, checkpoint))[:10] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(
            f"{path}: expected an MMPose checkpoint (a dict with 'state_dict' of 'backbone.*' / "
            f"'head.*' tensors), found {found}."
        )
    out = {}
    for key, value in state.items():
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{path}: state_dict[{key!r}] is {type(value).__name__}, not a tensor.")
        for old, new in _OLD_HEAD_NAMES:
            key = new + key[len(old):] if key.startswith(old) else key
        out[key] = value
    meta = checkpoint.get("meta") if isinstance(checkpoint.get("meta"), dict) else {}
    return out, meta


def network_config(state, skeleton="coco", debias=False, beta=1.0):
    """The `IntegralPoseModel` arguments that reproduce an MMPose integral-regression state dict.

    The ResNet depth, the deconvolutions, the joints and the heat-map size
    (from the linspace buffers, hence the input size) come from the state.

    Args:
        state: from `load_checkpoint`.
        skeleton: the joint set of the final layer (`"coco"`).
        debias: Gu et al.'s correction (MMPose's debias-IPR).
        beta: MMPose's softmax factor (10 for debias-IPR, else 1).

    Returns:
        dict of `IntegralPoseModel` keyword arguments.

    Raises:
        MissingTensorError, TensorShapeError, ValueError: a structure this
            converter cannot map (the message names the key).
    """
    depth = torchvision.resnet_depth(state, prefix="backbone.")
    deconvs = sorted(int(m.group(1)) for k in state
                     if (m := re.fullmatch(re.escape(HEAD) + r"deconv_layers\.(\d+)\.weight", k))
                     and state[k].ndim == 4)
    if deconvs != [3 * i for i in range(len(deconvs))]:
        raise ValueError(f"{HEAD}deconv_layers has transposed convolutions at {deconvs}, expected 0, 3, 6, ... "
                         "(deconvolution, BN, ReLU each).")
    filters = set()
    for i in deconvs:
        kernel = state[f"{HEAD}deconv_layers.{i}.weight"]
        if kernel.shape[2:] != (4, 4):
            raise pth.TensorShapeError(f"{HEAD}deconv_layers.{i}.weight has a {kernel.shape[2:]} kernel; "
                                       "IntegralPoseModel builds 4x4 stride-2 deconvolutions (MMPose's default).")
        filters.add(kernel.shape[1])
    if len(filters) > 1:
        raise ValueError(f"{HEAD}deconv_layers have {sorted(filters)} channels; IntegralPoseModel uses one width.")
    final = _tensor(state, HEAD + "final_layer.weight")
    joints = skeletons.get(skeleton).num_joints
    if final.shape[0] != joints or final.shape[2:] != (1, 1):
        raise pth.TensorShapeError(
            f"{HEAD}final_layer.weight has shape {final.shape}; skeleton {skeleton!r} needs a 1x1 conv to "
            f"{joints} joints ({joints}, C, 1, 1)."
        )
    heatmap_size = (_linspace(state, "y", 2), _linspace(state, "x", 3))
    scale = backbone_stride(f"resnet{depth}") // 2 ** len(deconvs)
    return {
        "backbone": f"resnet{depth}",
        "method": "I*",
        "skeleton": skeleton,
        "input_size": (heatmap_size[0] * scale, heatmap_size[1] * scale),
        "heatmap_size": heatmap_size,
        "head_filters": int(filters.pop() if filters else final.shape[1]),
        "decoding": "mmpose",
        "integral_scale": float(beta),
        "debias": bool(debias),
    }


def _tensor(state, key):
    if key not in state:
        raise pth.MissingTensorError(f"The checkpoint has no {key!r}, needed by MMPose's integral head.")
    return state[key]


def _linspace(state, axis, dim):
    """The size of `head.linspace_<axis>`, checked to hold `arange(n) / n` along `dim`."""
    key = f"head.linspace_{axis}"
    values = _tensor(state, key)
    n = values.shape[dim] if values.ndim == 4 else 0
    expected_shape = tuple(n if d == dim else 1 for d in range(4))
    if n == 0 or values.shape != expected_shape:
        raise pth.TensorShapeError(f"{key} has shape {values.shape}; MMPose's is {expected_shape or '(1, 1, 1, w)'}.")
    if not np.allclose(values.reshape(-1), np.arange(n) / n, rtol=0, atol=1e-6):
        raise ValueError(f"{key} is not arange({n}) / {n}: not the decoding of MMPose's integral head.")
    return n


def build_model(state, source="the checkpoint", **config):
    """Builds the `IntegralPoseModel` of `network_config(state, **config)` and copies every tensor onto it.

    Raises:
        UnusedTensorError: a tensor no layer takes (named); see also
            `network_config` and `torchvision.set_resnet_state`.
    """
    kwargs = network_config(state, **config)
    model = IntegralPoseModel(**kwargs)
    used = {"head.linspace_x", "head.linspace_y"}  # checked by network_config

    def assign(layer, keys, convert=lambda a: a):
        values = []
        for key, variable in zip(keys, layer.weights):
            value = convert(_tensor(state, key))
            if tuple(value.shape) != tuple(variable.shape):
                raise pth.TensorShapeError(
                    f"{source}: {key!r} has shape {state[key].shape}, which does not fit layer "
                    f"{layer.name!r} ({tuple(variable.shape)} in Keras layout)."
                )
            values.append(value)
            used.add(key)
        layer.set_weights(values)

    used |= torchvision.set_resnet_state(model.get_layer(kwargs["backbone"]), state, "backbone.", source)
    head = model.get_layer("head")
    # ConvTranspose2d (in, out, kh, kw) and Conv2d (out, in, kh, kw) both -> (kh, kw, ., .).
    to_keras = lambda a: a.transpose(2, 3, 1, 0)  # noqa: E731
    for i, (deconv, norm) in enumerate(zip(head.deconvs, head.norms)):
        assign(deconv, [f"{HEAD}deconv_layers.{3 * i}.weight"], to_keras)
        assign(norm, [f"{HEAD}deconv_layers.{3 * i + 1}.{name}" for name in _BN_KEYS])
    assign(head.final_conv, [HEAD + "final_layer.weight", HEAD + "final_layer.bias"],
           lambda a: to_keras(a) if a.ndim == 4 else a)
    unused = [k for k in state if k not in used and not k.endswith(_IGNORED)]
    if unused:
        raise pth.UnusedTensorError(
            f"{source}: tensor {unused[0]!r} has no layer in the converted model ({len(unused)} unused); "
            "a conversion that dropped it would not be MMPose's network."
        )
    return model


def convert(path, out_dir, skeleton="coco", debias=False, beta=1.0, metadata=None, overwrite=False):
    """Converts an MMPose integral-regression checkpoint into a preset folder.

    Args:
        path: the `.pth` file.
        out_dir: preset folder to write.
        skeleton, debias, beta: see `network_config`.
        metadata: extra preset metadata (`source`, `licence`, `reported`,
            ...); defaults name the file and its hash.
        overwrite: replace an existing `out_dir`.

    Returns:
        `pathlib.Path` of the preset folder; load it with `from_preset`.
    """
    state, meta = load_checkpoint(path)
    model = build_model(state, source=str(path), skeleton=skeleton, debias=debias, beta=beta)
    _check_joint_names(meta, skeleton, path)
    name = Path(path).name
    digest = sha256_file(path)
    full = {
        "description": f"MMPose's checkpoint {name}, converted.",
        "source": f"{name} (sha256 {digest}), converted by keras_integral.zoo.convert_mmpose",
        "licence": "Apache-2.0 (MMPose, OpenMMLab)",
        "metrics": {},
        **(metadata or {}),
        "upstream_sha256": digest,
        "conversion": {"call": f"keras_integral.zoo.convert_mmpose.convert({name!r}, ..., skeleton={skeleton!r}, "
                               f"debias={bool(debias)}, beta={float(beta)})",
                       "mmengine_version": str(meta.get("mmengine_version", "unknown"))},
    }
    return save_preset(model, out_dir, full, overwrite=overwrite)


def _check_joint_names(meta, skeleton, path):
    """MMPose's `dataset_meta` names its joints: they must be the skeleton's, in its order."""
    names = (meta.get("dataset_meta") or {}).get("keypoint_id2name")
    if not isinstance(names, dict):
        return
    theirs = [names[i] for i in sorted(names)]
    ours = list(skeletons.get(skeleton).joint_names)
    if theirs != ours:
        raise ValueError(f"{path}: its joints {theirs} are not skeleton {skeleton!r}'s {ours}.")

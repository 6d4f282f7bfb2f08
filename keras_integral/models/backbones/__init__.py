"""Backbones: image `(batch, H, W, 3)` RGB in `[0, 255]` -> features (or heat maps).

`get_backbone(name, input_shape)` builds one by name, for recipes:

| name | class | output |
|---|---|---|
| `resnet18`, `resnet34` | `ResNetBackbone` | `(b, H/32, W/32, 512)` |
| `resnet50`, `resnet101`, `resnet152` | `ResNetBackbone` | `(b, H/32, W/32, 2048)` |
| `resnet<depth>_stride8`, `_stride16` | `ResNetBackbone(num_stages=2, 3)` | `(b, H/8, W/8, 128 \\| 512)`, `(b, H/16, W/16, 256 \\| 1024)` |
| `hourglass` (2 stacks), `hourglass<n>` | `HourglassBackbone` | n x `(b, H/4, W/4, joints)` |
| `mobilenetv3_small`, `_large` | `MobileNetV3Backbone` | `(b, H/32, W/32, 576 \\| 960)` |
| `keras_hub:<preset>`, a `keras_hub.models.Backbone` | `HubBackbone` | `(b, H/32, W/32, channels)` |

`weights="imagenet"`: torchvision's ImageNet checkpoints for the ResNets
(`models/backbones/torchvision.py`), Keras Applications' for the MobileNets; a keras-hub
preset carries its own. The hourglass trains from scratch (the paper's).

Every class derives from `Backbone` (`base.py`: normalisation, weights,
config); what a pose model needs to know is on the class, not in its name:
`output_stride` and `returns_heatmaps` (read for a name, before building,
by `backbone_stride` and `returns_heatmaps`).

Example:

>>> from keras_integral.models.backbones import get_backbone
>>> get_backbone("resnet18", (64, 64, 3)).output.shape
(None, 2, 2, 512)
"""  # noqa: E501 (the table)

import re

import keras

from keras_integral.models.backbones.base import Backbone
from keras_integral.models.backbones.hourglass import HourglassBackbone
from keras_integral.models.backbones.hub import HUB_PREFIX
from keras_integral.models.backbones.hub import HubBackbone
from keras_integral.models.backbones.hub import check_feature_map
from keras_integral.models.backbones.hub import is_hub_backbone
from keras_integral.models.backbones.mobilenet import MobileNetV3Backbone
from keras_integral.models.backbones.resnet import ResNetBackbone
from keras_integral.models.backbones.resnet_layout import RESNET_DEPTHS

# ResNet name suffix -> residual stages kept (the stride-32 ResNet keeps all four).
_RESNET_STAGES = {"": 4, "_stride16": 3, "_stride8": 2}

BACKBONE_NAMES = (
    *(f"resnet{d}" for d in RESNET_DEPTHS),
    "resnet<depth>_stride8",
    "resnet<depth>_stride16",
    "hourglass",
    "hourglass<num_stacks>",
    "mobilenetv3_small",
    "mobilenetv3_large",
    f"{HUB_PREFIX}<preset>",
)


def resolve_name(name):
    """The class and constructor arguments a backbone name stands for; nothing is built.

    Args:
        name: one of `BACKBONE_NAMES` (case-insensitive but for the preset
            after `"keras_hub:"`).

    Returns:
        `(class, arguments)`, e.g. `(ResNetBackbone, {"depth": 18,
        "num_stages": 2})` for `"resnet18_stride8"`, `(HubBackbone,
        {"preset": ...})` for a keras-hub preset.

    Raises:
        ValueError: unknown name (the message lists the allowed names).

    Example:

    >>> resolve_name("hourglass4")
    (<class 'keras_integral.models.backbones.hourglass.HourglassBackbone'>, {'num_stacks': 4})
    """
    if str(name).startswith(HUB_PREFIX):
        return HubBackbone, {"preset": str(name)[len(HUB_PREFIX):]}
    name_str = str(name).lower()
    resnet = re.fullmatch(r"resnet(\d+)(_stride8|_stride16)?", name_str)
    if resnet and int(resnet.group(1)) in RESNET_DEPTHS:
        return ResNetBackbone, {"depth": int(resnet.group(1)), "num_stages": _RESNET_STAGES[resnet.group(2) or ""]}
    hourglass = re.fullmatch(r"hourglass([1-9]\d*)?", name_str)
    if hourglass:
        return HourglassBackbone, {"num_stacks": int(hourglass.group(1) or 2)}
    mobilenet = re.fullmatch(r"mobilenetv3_(small|large)", name_str)
    if mobilenet:
        return MobileNetV3Backbone, {"variant": mobilenet.group(1)}
    raise ValueError(
        f"Unknown backbone name {name!r}; expected one of {', '.join(BACKBONE_NAMES)}, "
        "or a keras.Model (e.g. a keras_hub.models.Backbone)."
    )


def get_backbone(name, input_shape=(None, None, 3), **kwargs):
    """Build a backbone by name, or take a backbone object.

    Args:
        name: str, one of `BACKBONE_NAMES`: `"resnet18"` ... `"resnet152"`,
            `"hourglass"` (2 stacks) or `"hourglass<n>"` (n stacks, e.g.
            `"hourglass1"`, `"hourglass8"`), `"mobilenetv3_small"`,
            `"mobilenetv3_large"`, `"keras_hub:<preset>"` (a keras-hub
            preset, `HubBackbone.from_preset`). Or a `keras.Model`: a
            `keras_hub.models.Backbone` is wrapped in `HubBackbone` (its
            class's normalisation); any other model must take RGB in
            `[0, 255]` itself and is used as it is. Or the serialised config
            of a model (what `IntegralPoseModel.get_config` stores).
        input_shape: `(height, width, 3)`. Defaults to `(None, None, 3)`.
        **kwargs: passed to the backbone class (e.g. `weights=` `"imagenet"`
            or a local file; `output_channels=` joints for the hourglass).
            A backbone object or preset comes with its weights: `weights`
            must be None there.

    Returns:
        A `keras.Model`: `ResNetBackbone`, `HourglassBackbone`,
        `MobileNetV3Backbone`, `HubBackbone`, or the model given.

    Raises:
        ValueError: unknown name (the message lists the allowed names).

    Example:

    >>> hg = get_backbone("hourglass1", (64, 64, 3), output_channels=16,
    ...                   num_channels=32, depth=2)
    >>> [h.shape for h in hg.outputs]
    [(None, 16, 16, 16)]
    """
    if isinstance(name, dict):
        name = keras.saving.deserialize_keras_object(name)
    if isinstance(name, keras.Model):
        _check_no_weights(name, kwargs)
        if is_hub_backbone(name):
            return HubBackbone(name, input_shape)
        if not isinstance(name, HubBackbone):  # checked when built
            check_feature_map(name(keras.Input(input_shape)), input_shape, _describe(name))
        return name
    cls, config = resolve_name(name)
    if cls is HubBackbone:  # a keras-hub preset, built by keras-hub
        _check_no_weights(name, kwargs)
        return HubBackbone.from_preset(config["preset"], input_shape)
    return cls(input_shape=input_shape, **config, **kwargs)


def backbone_stride(backbone):
    """Output stride of a backbone, by name (nothing is built) or object: its `output_stride`.

    4 for a hourglass (its heat maps), 8, 16 or 32 for a ResNet, 32 for the
    rest: a model that is no `Backbone` passed `get_backbone`'s stride-32 check.

    Example:

    >>> backbone_stride("resnet18"), backbone_stride("resnet18_stride8"), backbone_stride("hourglass2")
    (32, 8, 4)
    """
    if isinstance(backbone, keras.Model):
        return backbone.output_stride if isinstance(backbone, Backbone) else Backbone.output_stride
    cls, config = resolve_name(backbone)
    return cls.stride_for(**config)


def returns_heatmaps(backbone):
    """Whether a backbone (name or object) returns heat maps itself, one per stack, so no head follows.

    Example:

    >>> returns_heatmaps("hourglass2"), returns_heatmaps("resnet50")
    (True, False)
    """
    if isinstance(backbone, keras.Model):
        return isinstance(backbone, Backbone) and backbone.returns_heatmaps
    return resolve_name(backbone)[0].returns_heatmaps


def _check_no_weights(backbone, kwargs):
    if kwargs.get("weights") is not None:
        raise ValueError(
            f"`weights` applies to the backbones built by name; backbone {_describe(backbone)} comes "
            f"with its own weights, received weights={kwargs['weights']!r}."
        )


def _describe(backbone):
    return f"{type(backbone).__name__} {backbone.name!r}" if isinstance(backbone, keras.Model) else repr(backbone)


__all__ = [
    "BACKBONE_NAMES",
    "HUB_PREFIX",
    "Backbone",
    "backbone_stride",
    "HourglassBackbone",
    "HubBackbone",
    "MobileNetV3Backbone",
    "ResNetBackbone",
    "get_backbone",
    "resolve_name",
    "returns_heatmaps",
]

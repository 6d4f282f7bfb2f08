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
(`zoo/torchvision.py`), Keras Applications' for the MobileNets; a keras-hub
preset carries its own. The hourglass trains from scratch (the paper's).

Example:

>>> from keras_integral.models.backbones import get_backbone
>>> get_backbone("resnet18", (64, 64, 3)).output.shape
(None, 2, 2, 512)
"""

import re

import keras

from keras_integral.models.backbones.hourglass import HourglassBackbone
from keras_integral.models.backbones.hub import HUB_PREFIX
from keras_integral.models.backbones.hub import HubBackbone
from keras_integral.models.backbones.hub import check_feature_map
from keras_integral.models.backbones.hub import is_hub_backbone
from keras_integral.models.backbones.mobilenet import MobileNetV3Backbone
from keras_integral.models.backbones.resnet import RESNET_DEPTHS
from keras_integral.models.backbones.resnet import ResNetBackbone
from keras_integral.models.backbones.resnet import output_stride

# ResNet name suffix -> residual stages kept (the stride-32 ResNet keeps all four).
_RESNET_STAGES = {"": 4, "_stride16": 3, "_stride8": 2}
HOURGLASS_STRIDE = 4

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
    if isinstance(name, keras.Model) or str(name).startswith(HUB_PREFIX):
        if kwargs.get("weights") is not None:
            raise ValueError(
                f"`weights` applies to the backbones built by name; backbone {_describe(name)} comes "
                f"with its own weights, received weights={kwargs['weights']!r}."
            )
        if isinstance(name, str):
            return HubBackbone.from_preset(name[len(HUB_PREFIX):], input_shape)
        if is_hub_backbone(name):
            return HubBackbone(name, input_shape)
        if not isinstance(name, HubBackbone):  # checked when built
            check_feature_map(name(keras.Input(input_shape)), input_shape, _describe(name))
        return name
    name_str = str(name).lower()
    resnet = re.fullmatch(r"resnet(\d+)(_stride8|_stride16)?", name_str)
    if resnet and int(resnet.group(1)) in RESNET_DEPTHS:
        return ResNetBackbone(
            depth=int(resnet.group(1)), num_stages=_RESNET_STAGES[resnet.group(2) or ""],
            input_shape=input_shape, **kwargs
        )
    hourglass = re.fullmatch(r"hourglass([1-9]\d*)?", name_str)
    if hourglass:
        stacks = int(hourglass.group(1) or 2)
        return HourglassBackbone(num_stacks=stacks, input_shape=input_shape, **kwargs)
    mobilenet = re.fullmatch(r"mobilenetv3_(small|large)", name_str)
    if mobilenet:
        return MobileNetV3Backbone(
            variant=mobilenet.group(1), input_shape=input_shape, **kwargs
        )
    raise ValueError(
        f"Unknown backbone name {name!r}; expected one of {', '.join(BACKBONE_NAMES)}, "
        "or a keras.Model (e.g. a keras_hub.models.Backbone)."
    )


def backbone_stride(name):
    """Output stride of the backbone `name`: 4 for a hourglass (its heat maps), 8, 16 or 32 for a ResNet.

    Example:

    >>> backbone_stride("resnet18"), backbone_stride("resnet18_stride8"), backbone_stride("hourglass2")
    (32, 8, 4)
    """
    name_str = str(name).lower()
    if name_str.startswith("hourglass"):
        return HOURGLASS_STRIDE
    resnet = re.fullmatch(r"resnet\d+(_stride8|_stride16)?", name_str)
    if resnet:
        return output_stride(_RESNET_STAGES[resnet.group(1) or ""])
    return 32


def _describe(backbone):
    return f"{type(backbone).__name__} {backbone.name!r}" if isinstance(backbone, keras.Model) else repr(backbone)


__all__ = [
    "BACKBONE_NAMES",
    "HUB_PREFIX",
    "backbone_stride",
    "HourglassBackbone",
    "HubBackbone",
    "MobileNetV3Backbone",
    "ResNetBackbone",
    "get_backbone",
]

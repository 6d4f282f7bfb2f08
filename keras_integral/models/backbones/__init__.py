"""Backbones: image `(batch, H, W, 3)` RGB in `[0, 255]` -> features (or heat maps).

`get_backbone(name, input_shape)` builds one by name, for recipes:

| name | class | output |
|---|---|---|
| `resnet18`, `resnet34` | `ResNetBackbone` | `(b, H/32, W/32, 512)` |
| `resnet50`, `resnet101`, `resnet152` | `ResNetBackbone` | `(b, H/32, W/32, 2048)` |
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

BACKBONE_NAMES = (
    *(f"resnet{d}" for d in RESNET_DEPTHS),
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
    resnet = re.fullmatch(r"resnet(\d+)", name_str)
    if resnet and int(resnet.group(1)) in RESNET_DEPTHS:
        return ResNetBackbone(
            depth=int(resnet.group(1)), input_shape=input_shape, **kwargs
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


def _describe(backbone):
    return f"{type(backbone).__name__} {backbone.name!r}" if isinstance(backbone, keras.Model) else repr(backbone)


__all__ = [
    "BACKBONE_NAMES",
    "HUB_PREFIX",
    "HourglassBackbone",
    "HubBackbone",
    "MobileNetV3Backbone",
    "ResNetBackbone",
    "get_backbone",
]

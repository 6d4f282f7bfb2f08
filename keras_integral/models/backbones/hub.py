"""keras-hub image backbones as pose-model backbones: RGB `[0, 255]` -> their normalisation -> features.

`HubBackbone` wraps a `keras_hub.models.Backbone` whose output is one
feature map at stride 32, and puts the normalisation its ImageNet weights
were trained with in front of it, so the pose model still takes raw RGB
in `[0, 255]` and exported artifacts need no preprocessing.

keras-hub's image backbones, read from its code (0.32): the CNNs below
return one `(batch, H/32, W/32, channels)` map with their presets'
configurations (built from keras-hub's own converter configurations with
random weights, `pytest -m slow tests/test_backbones_hub.py`). Their presets
were converted from timm (ImageNet mean/std) or, for Xception, from Keras
Applications (`[-1, 1]`), which gives the class defaults below; each
preset's own `scale` and `offset` are in its image converter
(`keras_hub.layers.ImageConverter.from_preset`), which a preset name uses
(they can differ from the class default, e.g. timm's MIIL ImageNet-21k
MobileNetV3).

| keras-hub class | presets (examples) | channels | normalisation (class default) |
|---|---|---|---|
| `ResNetBackbone` | `resnet_18_imagenet` ... `resnet_152_imagenet`, `resnet_v2_50_imagenet`, `resnet_vd_*` | 512 / 2048 | ImageNet mean/std |
| `MobileNetBackbone` | `mobilenet_v3_small_100_imagenet`, `mobilenet_v3_large_100_imagenet` | 576 / 960 | ImageNet mean/std |
| `EfficientNetBackbone` | `efficientnet_b0_ra_imagenet` ... | 1280 (B0) | ImageNet mean/std |
| `CSPNetBackbone` | `csp_darknet_53_ra_imagenet`, `csp_resnet_50_ra_imagenet` | 1024 | ImageNet mean/std |
| `DenseNetBackbone` | `densenet_121_imagenet` ... | 1024 (121) | ImageNet mean/std |
| `VGGBackbone` | `vgg_11_imagenet` ... `vgg_19_imagenet` | 512 | ImageNet mean/std |
| `XceptionBackbone` | `xception_41_imagenet` | 2048 | `[-1, 1]` (x / 127.5 - 1) |

Other backbones returning one stride-32 map (e.g. `MiTBackbone`, SegFormer's
encoder) work with an explicit `scale` and `offset`, or through a preset
name. Not usable: those returning tokens (ViT, DeiT, DINOv2/v3) or several
maps (HGNetV2): the deconvolution head needs one stride-32 map, and the
wrapper says so.

Three ways in:

- `IntegralPoseModel(backbone="keras_hub:resnet_50_imagenet")` (also in a
  recipe's `backbone:`): anything `Backbone.from_preset` takes after the
  prefix (a name, `kaggle://`, `hf://`, a local preset folder); the
  normalisation comes from the preset's image converter.
- `IntegralPoseModel(backbone=keras_hub.models.ResNetBackbone(...))`: the
  class default of the table above.
- `IntegralPoseModel(backbone=HubBackbone(backbone, scale=..., offset=...))`:
  any normalisation.

Example:

>>> import keras_hub  # doctest: +SKIP
>>> from keras_integral.models import IntegralPoseModel
>>> model = IntegralPoseModel(backbone="keras_hub:resnet_50_imagenet", method="I1",
...                           skeleton="coco", input_size=(256, 192))  # doctest: +SKIP
"""  # noqa: E501 (the table)

import math

import keras

from keras_integral.download import WeightsUnavailableError
from keras_integral.models.backbones.base import IMAGENET_MEAN
from keras_integral.models.backbones.base import IMAGENET_STD
from keras_integral.models.backbones.base import Backbone

HUB_PREFIX = "keras_hub:"

# x * scale + offset on RGB in [0, 255].
_IMAGENET = ([1.0 / s for s in IMAGENET_STD], [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
_MINUS_ONE_TO_ONE = ([1.0 / 127.5] * 3, [-1.0] * 3)
# keras-hub class -> the normalisation of its ImageNet presets (see the table above).
HUB_NORMALISATION = {
    "ResNetBackbone": _IMAGENET,
    "MobileNetBackbone": _IMAGENET,
    "EfficientNetBackbone": _IMAGENET,
    "CSPNetBackbone": _IMAGENET,
    "DenseNetBackbone": _IMAGENET,
    "VGGBackbone": _IMAGENET,
    "XceptionBackbone": _MINUS_ONE_TO_ONE,
}


def import_keras_hub():
    """`import keras_hub`, with the install command in the error."""
    try:
        import keras_hub
    except ImportError as e:
        raise ImportError(
            "keras-hub backbones need keras-hub: pip install 'keras-integral[hub]' "
            "(keras-hub 0.32 with tensorflow-text 2.21)."
        ) from e
    return keras_hub


@keras.saving.register_keras_serializable(package="keras_integral")
class HubBackbone(Backbone):
    """A keras-hub image backbone behind its own normalisation; RGB `[0, 255]` in, stride-32 features out.

    Args:
        backbone: a `keras_hub.models.Backbone` (or its serialised config)
            returning one `(batch, H/32, W/32, channels)` map.
        input_shape: `(height, width, 3)`. Defaults to `(None, None, 3)`.
        scale, offset: per-channel (or scalar) normalisation `x * scale +
            offset` applied to RGB in `[0, 255]`, as keras-hub's
            `ImageConverter` does. Default: `HUB_NORMALISATION` of the
            backbone's class.
        name: model name. Defaults to `"hub_" + backbone.name`.
        **kwargs: passed to `keras.Model`.

    Input shape:
        `(batch, height, width, 3)`, RGB in `[0, 255]`.

    Output shape:
        `(batch, height / 32, width / 32, channels)`.

    Raises:
        ValueError: the backbone gives no single stride-32 map, or its class
            has no known normalisation and none was given.

    Example:

    >>> import keras_hub  # doctest: +SKIP
    >>> net = keras_hub.models.ResNetBackbone(
    ...     input_conv_filters=[64], input_conv_kernel_sizes=[7],
    ...     stackwise_num_filters=[64, 64, 64, 64], stackwise_num_blocks=[1, 1, 1, 1],
    ...     stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block")  # doctest: +SKIP
    >>> HubBackbone(net, (64, 64, 3)).output.shape  # doctest: +SKIP
    (None, 2, 2, 64)
    """

    def __init__(self, backbone, input_shape=(None, None, 3), scale=None, offset=None, name=None, **kwargs):
        if isinstance(backbone, dict):
            import_keras_hub()  # registers keras-hub's classes for deserialisation
            backbone = keras.saving.deserialize_keras_object(backbone)
        if not isinstance(backbone, keras.Model):
            raise ValueError(f"`backbone` must be a keras-hub Backbone, received {type(backbone).__name__}.")
        kind = type(backbone).__name__
        input_shape = self.image_input_shape(input_shape)
        try:
            probe = backbone(keras.Input(input_shape))
        except (TypeError, ValueError) as e:
            raise ValueError(f"keras-hub {kind} {backbone.name!r} cannot take {input_shape} images: {e}") from e
        check_feature_map(probe, input_shape, f"keras-hub {kind}")
        if scale is None or offset is None:
            if kind not in HUB_NORMALISATION:
                raise ValueError(
                    f"No known ImageNet normalisation for keras-hub {kind}; pass `scale` and `offset` "
                    f"(x * scale + offset on RGB in [0, 255]; known classes: {sorted(HUB_NORMALISATION)})."
                )
            default_scale, default_offset = HUB_NORMALISATION[kind]
            scale = default_scale if scale is None else scale
            offset = default_offset if offset is None else offset
        scale, offset = _per_channel(scale, "scale"), _per_channel(offset, "offset")

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="image")
        normalised = keras.layers.Rescaling(scale, offset, name="hub_normalisation")(inputs)
        features = backbone(normalised)
        super().__init__(
            inputs=inputs, outputs=features, input_shape=input_shape, name=name or f"hub_{backbone.name}", **kwargs
        )

        # === Config ===
        self.backbone = backbone
        self.scale = scale
        self.offset = offset

    @classmethod
    def from_preset(cls, preset, input_shape=(None, None, 3)):
        """A keras-hub preset (name, `kaggle://`, `hf://` or folder) with its image converter's normalisation.

        Raises:
            WeightsUnavailableError: the preset cannot be loaded (offline:
                keras-hub downloads from Kaggle or Hugging Face; a local
                preset folder works without a network).
        """
        keras_hub = import_keras_hub()
        try:
            backbone = keras_hub.models.Backbone.from_preset(preset)
        except Exception as e:
            raise WeightsUnavailableError(
                f"Cannot load the keras-hub preset {preset!r} ({type(e).__name__}: {e}). keras-hub "
                "downloads presets from Kaggle or Hugging Face into its cache; without a network, "
                "save the preset on a machine with one (Backbone.from_preset(...).save_to_preset(dir), "
                "ImageConverter.from_preset(...).save_to_preset(dir)) and use 'keras_hub:<dir>'."
            ) from e
        scale = offset = None
        try:
            converter = keras_hub.layers.ImageConverter.from_preset(preset)
        except Exception:
            converter = None  # no converter saved with the preset: the class default
        if converter is not None:
            scale, offset = converter.scale, converter.offset
        return cls(backbone, input_shape, scale=scale, offset=offset)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "scale": self.scale,
            "offset": self.offset,
        }


def is_hub_backbone(model):
    """Whether `model` is a `keras_hub.models.Backbone` (without importing keras-hub)."""
    return any(c.__module__.startswith("keras_hub.") and c.__name__ == "Backbone" for c in type(model).__mro__)


def _per_channel(value, arg):
    values = [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)] * 3
    if len(values) != 3:
        raise ValueError(f"`{arg}` must be one number or one per RGB channel, received {value!r}.")
    return values


def check_feature_map(features, input_shape, what):
    """Raises unless `features` is one `(batch, H/32, W/32, channels)` map of `input_shape` images.

    The stride is `Backbone.output_stride`, what the deconvolution heads are built for.
    """
    stride = Backbone.output_stride
    shapes = [tuple(t.shape) for t in keras.tree.flatten(features)]
    if len(shapes) != 1 or len(shapes[0]) != 4:
        raise ValueError(
            f"{what} returns {shapes}, not one (batch, height, width, channels) feature map; the pose "
            f"heads need a stride-{stride} map (keras-hub classes that give one: "
            f"{sorted(HUB_NORMALISATION)})."
        )
    for axis, size in enumerate(input_shape[:2]):
        out = shapes[0][1 + axis]
        if size is not None and out != math.ceil(size / stride):
            raise ValueError(
                f"{what} maps {tuple(input_shape[:2])} images to {shapes[0][1:3]} features, not "
                f"stride {stride}; the pose heads need a stride-{stride} map."
            )

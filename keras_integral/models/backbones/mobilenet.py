"""MobileNetV3 backbones (Keras Applications) for small and mobile models.

A thin wrapper around `keras.applications.MobileNetV3Small/Large` without
the classifier: the output is the last feature map (576 or 960 channels) at
stride 32, so the same heads as for ResNet apply. The graph uses builtin
TFLite ops only (hard-swish is ReLU6 arithmetic), checked in the tests.

`weights="imagenet"` loads Keras Applications' own ImageNet weights
(alpha 1.0, no top), downloaded and cached by Keras (`keras.utils.get_file`:
`$KERAS_HOME/models/`, default `~/.keras/models/`); those weights expect
the `[-1, 1]` scaling that `include_preprocessing=True` puts first in the
graph, so the model still takes RGB in `[0, 255]`.

Example:

>>> import numpy as np
>>> from keras_integral.models.backbones import MobileNetV3Backbone
>>> net = MobileNetV3Backbone("small", input_shape=(64, 64, 3))
>>> net(np.zeros((1, 64, 64, 3), "float32")).shape
TensorShape([1, 2, 2, 576])
"""

import os
import warnings

import keras

from keras_integral.download import WeightsUnavailableError
from keras_integral.models.backbones.base import Backbone

_APPLICATIONS = {
    "small": keras.applications.MobileNetV3Small,
    "large": keras.applications.MobileNetV3Large,
}


@keras.saving.register_keras_serializable(package="keras_integral")
class MobileNetV3Backbone(Backbone):
    """MobileNetV3 feature extractor (stride 32), RGB `[0, 255]` in.

    The layers are Keras Applications' own (names included), built on this
    model's input with `include_top=False` and `include_preprocessing=True`:
    its `Rescaling` maps `[0, 255]` to `[-1, 1]`, the normalisation that
    MobileNetV3's ImageNet weights expect (not the ResNets' mean/std).

    Args:
        variant: `"small"` or `"large"`. Defaults to `"small"`.
        input_shape: `(height, width, 3)`, each known size at least 32.
            Defaults to `(None, None, 3)`.
        weights: None (random), `"imagenet"` (Keras Applications' ImageNet
            weights, downloaded and cached by Keras), or a local
            `.weights.h5` file for this model. Not stored in the config.
        name: model name. Defaults to `f"mobilenetv3_{variant}"`.
        **kwargs: passed to `keras.Model`.

    Input shape:
        `(batch, height, width, 3)`, RGB in `[0, 255]`.

    Output shape:
        `(batch, ceil(height / 32), ceil(width / 32), 576 | 960)`.

    Example:

    >>> import numpy as np
    >>> net = MobileNetV3Backbone("large", input_shape=(96, 96, 3))
    >>> net(np.zeros((1, 96, 96, 3), "float32")).shape
    TensorShape([1, 3, 3, 960])

    Reference:
        Howard et al., "Searching for MobileNetV3", ICCV 2019.
    """

    def __init__(
        self,
        variant="small",
        input_shape=(None, None, 3),
        weights=None,
        name=None,
        **kwargs,
    ):
        if variant not in _APPLICATIONS:
            raise ValueError(
                f"`variant` must be one of {sorted(_APPLICATIONS)}; "
                f"received variant={variant!r}."
            )
        input_shape = self.image_input_shape(input_shape)

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="image")
        application = _build_application(variant, inputs, imagenet=weights == "imagenet")
        super().__init__(
            inputs=inputs,
            outputs=application.output,
            input_shape=input_shape,
            name=name or f"mobilenetv3_{variant}",
            **kwargs,
        )

        # === Config ===
        self.variant = variant
        self.load_pretrained(weights)

    def _load_pretrained(self, weights):
        if weights != "imagenet":
            raise ValueError(
                f"`weights` of {self.name} must be None, \"imagenet\" or a local Keras '.weights.h5' file; "
                f"received weights={weights!r}."
            )
        # "imagenet": Keras Applications loaded them when the graph was built.

    def get_config(self):
        return {**super().get_config(), "variant": self.variant}


def imagenet_weights_file(variant):
    """The URL and Keras cache path of Keras Applications' no-top ImageNet weights for `variant`.

    Returns:
        `(url, path)`; `path` is where `keras.utils.get_file` keeps it
        (`$KERAS_HOME/models/<file>`, default `~/.keras/models/<file>`).
    """
    # Read from Keras itself, so the message names what its download tried.
    from keras.src.applications.mobilenet_v3 import BASE_WEIGHT_PATH
    from keras.src.backend.config import keras_home

    # Keras's file naming for alpha 1.0, not minimalistic, no top.
    name = f"weights_mobilenet_v3_{variant}_224_1.0_float_no_top_v2.h5"
    return BASE_WEIGHT_PATH + name, os.path.join(keras_home(), "models", name)


def _build_application(variant, inputs, imagenet):
    try:
        with warnings.catch_warnings():
            # "Weights for input shape (224, 224) will be loaded": convolution weights fit any size.
            warnings.filterwarnings("ignore", message="`input_shape` is undefined or non-square")
            return _APPLICATIONS[variant](
                input_tensor=inputs,
                include_top=False,
                weights="imagenet" if imagenet else None,
                include_preprocessing=True,
            )
    except Exception as e:
        # Keras's get_file raises a bare Exception("URL fetch failure on <url> ...") offline.
        if not imagenet or "URL fetch failure" not in str(e):
            raise
        url, path = imagenet_weights_file(variant)
        raise WeightsUnavailableError(
            f"Cannot download MobileNetV3-{variant}'s ImageNet weights ({e}). Without a network, "
            f"download {url} elsewhere and place it at {path} (Keras's cache; it checks the file's "
            "hash)."
        ) from e

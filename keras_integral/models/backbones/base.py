"""`Backbone`: what every backbone shares, and what a pose model reads off one.

A backbone takes RGB `(batch, H, W, 3)` in `[0, 255]` and normalises
inside, so models and exported artifacts take raw pixels. It says, as class
attributes (or properties where they depend on the configuration):

- `output_stride`: input pixels per output cell (32 for the ResNets and
  MobileNets, 8 or 16 for a ResNet cut after a stage, 4 for the hourglass);
- `returns_heatmaps`: True when its outputs are heat maps already, one per
  stack, so no head follows (the hourglass).

`stride_for(**config)` gives a class's stride for a configuration without
building it (what `backbone_stride(name)` reads). Weights: `weights=None`,
a local Keras `.weights.h5` file for any backbone, and a class's own
sources (`"imagenet"`, a torchvision `.pth`) through `_load_pretrained`.

Example:

>>> from keras_integral.models.backbones import HourglassBackbone, ResNetBackbone
>>> ResNetBackbone.output_stride, ResNetBackbone.stride_for(num_stages=2), HourglassBackbone.output_stride
(32, 8, 4)
>>> HourglassBackbone.returns_heatmaps, ResNetBackbone.returns_heatmaps
(True, False)
"""

import os

import keras

# ImageNet RGB statistics on a 0-255 scale (torchvision's, times 255).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def image_normalization():
    """The ImageNet normalisation layer of the backbones trained from torchvision's statistics.

    Maps RGB in `[0, 255]` to `(x - mean) / std` with torchvision's
    statistics, so models take raw pixels and exported artifacts need no
    preprocessing beyond the crop.

    Returns:
        A `keras.layers.Normalization` named `image_normalization` with
        no weights.

    Example:

    >>> import numpy as np
    >>> layer = image_normalization()
    >>> layer(np.full((1, 1, 1, 3), 255.0, "float32")).shape
    TensorShape([1, 1, 1, 3])
    """
    return keras.layers.Normalization(
        mean=list(IMAGENET_MEAN),
        variance=[s * s for s in IMAGENET_STD],
        name="image_normalization",
    )


class Backbone(keras.Model):
    """Base of the backbones: image `(batch, H, W, 3)` RGB `[0, 255]` -> features or heat maps.

    A subclass checks its arguments (`image_input_shape`), builds its
    functional graph on `keras.Input(input_shape)`, calls
    `super().__init__(inputs=..., outputs=..., input_shape=..., name=...)`,
    sets its own config attributes and then `self.load_pretrained(weights)`.
    `get_config` returns `name`, `trainable` and `input_shape`; a subclass
    adds its own arguments, and `from_config` calls the class with them.

    Args:
        inputs, outputs: the functional graph.
        input_shape: `(height, width, 3)` the graph was built for.
        **kwargs: passed to `keras.Model` (`name`, `trainable`).
    """

    # Stride-32 features: what the deconvolution heads are built for (the paper's ResNets).
    output_stride = 32
    returns_heatmaps = False

    def __init__(self, inputs, outputs, input_shape, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.image_shape = tuple(input_shape)

    @classmethod
    def stride_for(cls, **config):
        """The `output_stride` of `cls(**config)`, without building it."""
        return cls.output_stride

    @staticmethod
    def image_input_shape(input_shape):
        """`input_shape` as a tuple, checked to be `(height, width, 3)` (sizes may be None)."""
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[-1] != 3:
            raise ValueError(
                "`input_shape` must be (height, width, 3) for RGB images; "
                f"received input_shape={input_shape!r}."
            )
        return shape

    def load_pretrained(self, weights):
        """Loads `weights` into the built backbone.

        Args:
            weights: None (keep the initial weights), the path of a local
                Keras `.weights.h5` file, or a source of the class's own
                (`_load_pretrained`: `"imagenet"`, a torchvision `.pth`).

        Raises:
            FileNotFoundError: no `.weights.h5` file at that path.
            ValueError: `weights` is none of these (the message says what is).
        """
        if weights is None:
            return
        path = os.fspath(weights) if isinstance(weights, (str, os.PathLike)) else None
        if path is not None and path.endswith(".weights.h5"):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"`weights` file not found: {path!r} (expected a local '.weights.h5' file).")
            self.load_weights(path)
            return
        self._load_pretrained(weights)

    def _load_pretrained(self, weights):
        """Loads weights that are not a `.weights.h5` file; a backbone with pretrained sources overrides it."""
        raise ValueError(
            f"`weights` of {self.name} must be None or a local Keras '.weights.h5' file; "
            f"received weights={weights!r}."
        )

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "input_shape": self.image_shape}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

"""keras-integral: Integral Human Pose Regression (Sun et al., ECCV 2018) for Keras 3."""

__version__ = "0.1.0"

from keras_integral import skeletons  # noqa: E402,F401
# The zoo entry point: a model from a registry name, a preset folder or a URL.
from keras_integral.zoo import from_preset  # noqa: E402,F401

"""keras-integral: Integral Human Pose Regression (Sun et al., ECCV 2018) for Keras 3."""

__version__ = "0.1.0"

from keras_integral import skeletons  # noqa: E402,F401

"""Keras layers of keras-integral."""

from keras_integral.layers.decode import HeatmapArgmax  # noqa: F401
from keras_integral.layers.decode import JointConfidence  # noqa: F401
from keras_integral.layers.integral import IntegralRegression2D  # noqa: F401
from keras_integral.layers.integral import IntegralRegression3D  # noqa: F401
from keras_integral.layers.integral import MarginalIntegral3D  # noqa: F401

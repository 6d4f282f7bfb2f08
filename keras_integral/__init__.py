"""keras-integral: Integral Human Pose Regression (Sun et al., ECCV 2018) for Keras 3.

>>> import keras_integral as ki
>>> model = ki.models.IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco",
...                                     input_size=(64, 64))
>>> model.output["keypoints"].shape
(None, 17, 2)
"""

__version__ = "0.1.0"

from keras_integral import data  # noqa: E402,F401
from keras_integral import layers  # noqa: E402,F401
from keras_integral import losses  # noqa: E402,F401
from keras_integral import metrics  # noqa: E402,F401
from keras_integral import models  # noqa: E402,F401
from keras_integral import skeletons  # noqa: E402,F401
from keras_integral import targets  # noqa: E402,F401
from keras_integral.inference import Predictor  # noqa: E402,F401
from keras_integral.inference import draw_skeleton  # noqa: E402,F401
from keras_integral.models import IntegralPoseModel  # noqa: E402,F401
from keras_integral.models import MultiStagePoseModel  # noqa: E402,F401

# The zoo entry point: a model from a registry name, a preset folder or a URL.
from keras_integral.zoo import from_preset  # noqa: E402,F401

"""keras-integral: Integral Human Pose Regression (Sun et al., ECCV 2018) for Keras 3.

>>> import keras_integral as ki
>>> model = ki.models.IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco",
...                                     input_size=(64, 64))
>>> model.output["keypoints"].shape
(None, 17, 2)
"""

from keras_integral import data  # noqa: F401
from keras_integral import export  # noqa: F401
from keras_integral import layers  # noqa: F401
from keras_integral import losses  # noqa: F401
from keras_integral import metrics  # noqa: F401
from keras_integral import models  # noqa: F401
from keras_integral import skeletons  # noqa: F401
from keras_integral import targets  # noqa: F401
from keras_integral.detection import BlazePoseDetector  # noqa: F401
from keras_integral.inference import Predictor  # noqa: F401
from keras_integral.inference import draw_skeleton  # noqa: F401
from keras_integral.models import IntegralPoseModel  # noqa: F401
from keras_integral.models import MultiStagePoseModel  # noqa: F401
from keras_integral.tracking import PoseTracker  # noqa: F401
from keras_integral.version import __version__  # noqa: F401

# The zoo entry point: a model from a registry name, a preset folder or a URL.
from keras_integral.zoo import from_preset  # noqa: F401

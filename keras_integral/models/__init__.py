"""Models: backbones, heads and the pose models built from them."""

from keras_integral.models.backbones import HourglassBackbone  # noqa: F401
from keras_integral.models.backbones import MobileNetV3Backbone  # noqa: F401
from keras_integral.models.backbones import ResNetBackbone  # noqa: F401
from keras_integral.models.backbones import get_backbone  # noqa: F401
from keras_integral.models.heads import DeconvHead  # noqa: F401
from keras_integral.models.heads import RegressionHead  # noqa: F401
from keras_integral.models.multistage import MultiStagePoseModel  # noqa: F401
from keras_integral.models.pose_model import IntegralPoseModel  # noqa: F401

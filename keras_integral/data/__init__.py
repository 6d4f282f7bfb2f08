"""Data: loaders (files -> `PoseRecord`s), the synthetic set, transforms and the tf.data pipeline."""

from keras_integral.data import cameras  # noqa: F401
from keras_integral.data import coco  # noqa: F401
from keras_integral.data import h36m  # noqa: F401
from keras_integral.data import mpii  # noqa: F401
from keras_integral.data import pipeline  # noqa: F401
from keras_integral.data import synthetic  # noqa: F401
from keras_integral.data import transforms  # noqa: F401
from keras_integral.data.records import PoseRecord  # noqa: F401

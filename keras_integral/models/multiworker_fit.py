"""Workarounds that let Keras 3's `fit` run under `MultiWorkerMirroredStrategy` (keras-team/keras#20585).

TensorFlow's alone: `tf.distribute` is the TensorFlow backend's way to train on
several workers, and under JAX or PyTorch both overrides are inert (the
strategy check is false; JAX's and PyTorch's trainers never call
`_maybe_symbolic_build`). Kept apart so they can go in one commit when Keras
fixes the issue: delete this file and `MultiWorkerFitMixin` from
`IntegralPoseModel`'s bases.
"""

import keras
import tensorflow as tf
from keras import ops


def _multi_worker(strategy):
    return keras.backend.backend() == "tensorflow" and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


class MultiWorkerFitMixin:
    """Mixed into a `keras.Model` before it: fixes `fit` under `MultiWorkerMirroredStrategy`."""

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        # Keras averages the logs across workers along axis 0, which a scalar lacks: give each a length-1 axis.
        if _multi_worker(tf.distribute.get_strategy()):
            return {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # A private hook of Keras's TensorFlow trainer (checked with keras 3.10-3.15), the only place
        # to mend this: Keras 3 builds the optimizer and metrics from the first batch, averaged across
        # replicas with `strategy.reduce`, which fails on a MultiWorkerMirroredStrategy's per-replica
        # batch. Shapes are all the build needs: take this worker's first replica.
        strategy = self.distribute_strategy
        if iterator is not None and _multi_worker(strategy):
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], next(batches)
                )
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

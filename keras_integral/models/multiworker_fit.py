"""Workarounds that let Keras 3's `fit` run under `MultiWorkerMirroredStrategy` (keras-team/keras#20585).

Kept apart so they can go in one commit when Keras fixes the issue: delete
this file and `MultiWorkerFitMixin` from `IntegralPoseModel`'s bases.
"""

import tensorflow as tf
from keras import ops


class MultiWorkerFitMixin:
    """Mixed into a `keras.Model` before it: fixes `fit` under `MultiWorkerMirroredStrategy`."""

    def _metrics_logs(self, logs):
        """Keras averages the logs across workers along axis 0, which a scalar lacks: give each a length-1 axis."""
        if isinstance(self._distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3 builds the optimizer and metrics from the first batch, averaged across replicas with
        # `strategy.reduce`, which fails on a MultiWorkerMirroredStrategy's per-replica batch.
        # Shapes are all the build needs: take this worker's first replica.
        strategy = self._distribute_strategy
        if iterator is not None and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], next(batches)
                )
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

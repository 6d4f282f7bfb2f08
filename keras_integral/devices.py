"""How training spreads over devices, per Keras backend: an object with `scope()` and `num_replicas_in_sync`.

| backend    | devices                                                                   |
|------------|---------------------------------------------------------------------------|
| tensorflow | `tf.distribute`: `MultiWorkerMirroredStrategy` when `TF_CONFIG` is set,   |
|            | else `MirroredStrategy` over the local devices                            |
| jax        | `keras.distribution.DataParallel` over the local devices (one process)    |
| torch      | one device: Keras has no data-parallel distribution for PyTorch           |

The recipe's batch size is global under each: TensorFlow splits it across
replicas (and `train()` synchronises batch norm); JAX shards one global
batch over the devices, so its batch-norm statistics are the global batch's
without more. Multi-worker training (`TF_CONFIG`) is TensorFlow's alone and
is refused under the other backends.

Example:

>>> strategy = make_strategy()
>>> with strategy.scope():
...     model = IntegralPoseModel(...); model.compile(); model.fit(...)
"""

import contextlib
import os

import keras


class KerasDistribution:
    """A `keras.distribution.Distribution` (or none: one device) with the two members of `tf.distribute.Strategy`
    that `training.train` uses."""

    def __init__(self, distribution=None, replicas=1):
        self.distribution = distribution
        self.num_replicas_in_sync = replicas

    def scope(self):
        return self.distribution.scope() if self.distribution is not None else contextlib.nullcontext()


def _tensorflow():
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.MirroredStrategy()


def _jax():
    _refuse_tf_config("jax")
    devices = keras.distribution.list_devices()
    if len(devices) == 1:
        return KerasDistribution()
    return KerasDistribution(keras.distribution.DataParallel(devices=devices), len(devices))


def _torch():
    _refuse_tf_config("torch")
    return KerasDistribution()


def _refuse_tf_config(backend):
    if os.environ.get("TF_CONFIG"):
        raise ValueError(
            f"TF_CONFIG is set, asking for multi-worker training, which is TensorFlow's (tf.distribute); "
            f"KERAS_BACKEND={backend} trains in one process. Unset TF_CONFIG, or train with KERAS_BACKEND=tensorflow."
        )


STRATEGIES = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}


def make_strategy():
    """The current Keras backend's way to train on this machine's devices (see the module docstring)."""
    backend = keras.backend.backend()
    if backend not in STRATEGIES:
        raise ValueError(f"Training runs under the Keras backends {sorted(STRATEGIES)}, not {backend!r}.")
    return STRATEGIES[backend]()

"""Shared test set-up: quiet TensorFlow, deterministic ops and seeds, the shared samples folder, a seeded RNG.

Every test starts from the same seeds (Python, NumPy, TensorFlow, Keras) whatever ran before it,
and TensorFlow's ops are deterministic, so a test that trains a model for a few steps gets the
same weights on every run with the same thread count.
"""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.experimental.enable_op_determinism()

BACKEND = keras.backend.backend()

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"


def pytest_collection_modifyitems(config, items):
    """Under JAX or PyTorch (`KERAS_BACKEND`), only the tests marked `all_backends` and not `tensorflow` run.

    The rest use TensorFlow directly (tf.data, tf.lite, tf.distribute, SavedModel) and run under the
    TensorFlow backend, the default.
    """
    if BACKEND == "tensorflow":
        return
    kept = [item for item in items if "all_backends" in item.keywords and "tensorflow" not in item.keywords]
    if len(kept) < len(items):
        kept_ids = {id(item) for item in kept}
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in kept_ids])
        items[:] = kept


@pytest.fixture(autouse=True, scope="module")
def seeded_module():
    """The same seeds before each module's own fixtures (a module-scoped fixture may train a model)."""
    keras.utils.set_random_seed(0)


@pytest.fixture(autouse=True)
def seeded(seeded_module):
    """The same seeds for every test, so none depends on what ran before it."""
    keras.utils.set_random_seed(0)


@pytest.fixture
def samples_dir():
    if not SAMPLES.is_dir():
        pytest.fail(f"Shared samples not found at {SAMPLES} (expected ../shared/data/samples).")
    return SAMPLES


@pytest.fixture
def rng():
    return np.random.default_rng(0)

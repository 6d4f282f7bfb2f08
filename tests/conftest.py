"""Shared test set-up: quiet TensorFlow, the shared samples folder, a seeded RNG."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"


@pytest.fixture
def samples_dir():
    if not SAMPLES.is_dir():
        pytest.fail(f"Shared samples not found at {SAMPLES} (expected ../shared/data/samples).")
    return SAMPLES


@pytest.fixture
def rng():
    return np.random.default_rng(0)

"""Run as `python -m tests.backend_worker IMAGES.npy OUT.npz MODEL.keras...` under some KERAS_BACKEND.

Loads each `.keras` file in safe mode and writes its keypoints and scores on
the images to OUT.npz (`keypoints_<i>`, `scores_<i>`), with the backend's name:
the other half of test_backends.py's cross-backend check.
"""

import sys

import keras
import numpy as np

import keras_integral  # noqa: F401  (registers the layers and models for deserialisation)


def main(images_path, out_path, *model_paths):
    images = np.load(images_path, allow_pickle=False)
    results = {"backend": np.array(keras.backend.backend())}
    for i, path in enumerate(model_paths):
        outputs = keras.models.load_model(path, safe_mode=True).predict(images, verbose=0)
        results[f"keypoints_{i}"], results[f"scores_{i}"] = outputs["keypoints"], outputs["scores"]
    np.savez(out_path, **results)


if __name__ == "__main__":
    main(*sys.argv[1:])

"""The child half of test_backends.py's checks, run under some KERAS_BACKEND.

`python -m tests.backend_worker IMAGES.npy OUT.npz MODEL.keras...` loads each
`.keras` file in safe mode and writes its keypoints and scores on the images to
OUT.npz (`keypoints_<i>`, `scores_<i>`), with the backend's name.

`python -m tests.backend_worker --data-parallel OUT.npz` (JAX, several devices)
trains the same model on the same batch on one device and under
`devices.make_strategy()`'s data-parallel distribution, and writes both
models' keypoints and the number of replicas.
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


def data_parallel(out_path):
    from keras_integral.devices import KerasDistribution
    from keras_integral.devices import make_strategy
    from keras_integral.models.pose_model import IntegralPoseModel

    strategy = make_strategy()
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(8, 64, 64, 3)).astype("float32")
    y = {"keypoints": rng.uniform(6, 58, size=(8, 17, 2)).astype("float32"), "weights": np.ones((8, 17, 2), "float32")}
    results = {"replicas": np.array(strategy.num_replicas_in_sync)}
    for name, devices in (("one_device", KerasDistribution()), ("data_parallel", strategy)):
        keras.utils.set_random_seed(0)
        with devices.scope():
            model = IntegralPoseModel(backbone="resnet18", method="I1", phase=2, skeleton="coco", input_size=(64, 64))
            model.compile()
            model.fit(images, y, batch_size=8, epochs=2, verbose=0)
            results[name] = model.predict(images, verbose=0)["keypoints"]
        results[f"{name}_weight_devices"] = np.array(len(model.weights[0].value.sharding.device_set))
    np.savez(out_path, **results)


if __name__ == "__main__":
    if sys.argv[1] == "--data-parallel":
        data_parallel(sys.argv[2])
    else:
        main(*sys.argv[1:])

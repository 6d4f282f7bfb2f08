"""Camera files and the Human3.6M projection, checked on the shared samples and by hand."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from keras_integral.data import cameras

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
H36M = SAMPLES / "h36m"


def _camera_key(image_name):
    base = os.path.basename(image_name)  # S1_Directions_1.54138969_000001.jpg
    return base.split("_")[0] + "_" + base.split(".")[1].split("_")[0]


def test_load_cameras_json_and_pkl_hold_the_file_values():
    with open(H36M / "cameras.json") as f:
        raw_json = json.load(f)
    with open(H36M / "cameras.pkl", "rb") as f:
        raw_pkl = pickle.load(f)  # the trusted sample, read the plain way
    from_json = cameras.load_cameras(H36M / "cameras.json")
    from_pkl = cameras.load_cameras(H36M / "cameras.pkl")
    assert set(from_json) == set(raw_json) == {f"{s}_{c}" for s, c in raw_pkl}
    assert len(from_json) == 44
    for (subject, camera_id), raw in raw_pkl.items():
        key = f"{subject}_{camera_id}"
        for field, shape in (("R", (3, 3)), ("T", (3,)), ("f", (2,)), ("c", (2,)), ("k", (3,)), ("p", (2,))):
            np.testing.assert_array_equal(from_pkl[key][field], np.reshape(raw[field], shape))
            np.testing.assert_array_equal(from_json[key][field], np.reshape(raw_json[key][field], shape))
        assert from_json[key]["w"] == raw["w"] and from_json[key]["id"] == camera_id


def test_projection_with_distortion_reproduces_part():
    data = np.load(H36M / "test_h36m_body3d_subset.npz")
    table = cameras.load_cameras(H36M / "cameras.json")
    for name, joints_m, part in zip(data["imgname"], data["S"], data["part"]):
        camera = table[_camera_key(str(name))]
        uv = cameras.project_points(joints_m[:, :3], camera)
        assert uv.shape == (17, 2)
        np.testing.assert_allclose(uv, part[:, :2], atol=0.01)
        # Millimetres give the same pixels (only X/Z, Y/Z matter).
        np.testing.assert_allclose(cameras.project_points(joints_m[:, :3] * 1000, camera), uv, atol=1e-9)
        # Without k, p the error is large: the test above really checks the distortion.
        pinhole = cameras.project_points(joints_m[:, :3], {"f": camera["f"], "c": camera["c"]})
        assert np.abs(pinhole - part[:, :2]).max() > 1.0


@pytest.mark.parametrize(
    "k, p, expected",
    [
        # x, y = 0.25, 0.5; r2 = 0.3125; f = (2, 3); c = (10, 20).
        ((0, 0, 0), (0, 0), (10.5, 21.5)),
        # radial = 1 + 0.1 * 0.3125 = 1.03125.
        ((0.1, 0, 0), (0, 0), (10.515625, 21.546875)),
        # p1 = 0.02: tan = 0.02 * 0.5 = 0.01; y gets + p1 * r2 = 0.00625.
        ((0, 0, 0), (0.02, 0), (10.505, 21.53375)),
        # p2 = 0.04: tan = 0.04 * 0.25 = 0.01; x gets + p2 * r2 = 0.0125.
        ((0, 0, 0), (0, 0.04), (10.53, 21.515)),
    ],
)
def test_projection_hand_computed(k, p, expected):
    camera = {"f": [2.0, 3.0], "c": [10.0, 20.0], "k": k, "p": p}
    np.testing.assert_allclose(cameras.project_points([[1.0, 2.0, 4.0]], camera), [expected], atol=1e-12)


def test_projection_keeps_leading_axes():
    camera = {"f": [2.0, 3.0], "c": [10.0, 20.0], "k": [0.1, 0, 0]}
    points = np.tile([1.0, 2.0, 4.0], (2, 5, 1))
    uv = cameras.project_points(points, camera)
    assert uv.shape == (2, 5, 2)
    np.testing.assert_allclose(uv, np.broadcast_to([10.515625, 21.546875], (2, 5, 2)))


def test_unproject_inverts_the_distorted_projection_of_the_samples():
    table = cameras.load_cameras(H36M / "cameras.json")
    rng = np.random.default_rng(0)
    for camera in list(table.values())[:4]:
        # Points across the whole frame (strong distortion at the corners), 2-7 m away.
        points = np.concatenate([rng.uniform(-0.5, 0.5, (50, 2)), np.ones((50, 1))], 1) * rng.uniform(2, 7, (50, 1))
        uv = cameras.project_points(points, camera)
        np.testing.assert_allclose(cameras.unproject_points(uv, points[:, 2], camera), points, atol=1e-9)
    with pytest.raises(ValueError, match="unproject_points"):
        cameras.unproject_points(np.zeros((3, 2)), np.zeros(4), camera)


def test_world_to_camera_reproduces_S():
    with open(H36M / "h36m_coco_subset.json") as f:
        coco = json.load(f)
    data = np.load(H36M / "test_h36m_body3d_subset.npz")
    table = cameras.load_cameras(H36M / "cameras.json")
    rows = {os.path.basename(str(n)): i for i, n in enumerate(data["imgname"])}
    files = {image["id"]: image["file_name"] for image in coco["images"]}
    assert len(coco["annotations"]) == 2
    for annotation in coco["annotations"]:
        name = files[annotation["image_id"]]
        camera = table[_camera_key(name)]
        world = np.reshape(annotation["keypoints_3d"], (17, 4))[:, :3]
        cam = cameras.world_to_camera(world, camera["R"], camera["T"])
        np.testing.assert_allclose(cam, data["S"][rows[name], :, :3], atol=1e-5)


def test_world_to_camera_hand_computed():
    # Camera axes x_c, y_c, z_c are world y, -x, z (columns of R); centre at (1, 0, 0).
    R = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    cam = cameras.world_to_camera([[1.0, 2.0, 3.0], [2.0, 0.0, 0.0]], R, [[1.0], [0.0], [0.0]])
    # (1, 2, 3) is (0, 2, 3) from the centre: x_c = world y = 2, y_c = -world x = 0, z_c = 3.
    # (2, 0, 0) is (1, 0, 0) from the centre: x_c = 0, y_c = -1, z_c = 0.
    np.testing.assert_allclose(cam, [[2.0, 0.0, 3.0], [0.0, -1.0, 0.0]])


def test_missing_and_malformed_camera_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        cameras.load_cameras(tmp_path / "nope.json")
    with open(H36M / "cameras.json") as f:
        raw = json.load(f)
    broken = dict(raw)
    broken["S1_54138969"] = {k: v for k, v in raw["S1_54138969"].items() if k != "R"}
    path = tmp_path / "cams.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"cams\.json.*S1_54138969.*missing field 'R'"):
        cameras.load_cameras(path)
    broken["S1_54138969"] = dict(raw["S1_54138969"], f=[1.0, 2.0, 3.0])
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"S1_54138969.*'f' must have 2 numbers"):
        cameras.load_cameras(path)
    (tmp_path / "cams.yaml").write_text("{}")
    with pytest.raises(ValueError, match=r"\.json or \.pkl"):
        cameras.load_cameras(tmp_path / "cams.yaml")


def test_pickle_with_foreign_globals_is_refused(tmp_path):
    path = tmp_path / "cams.pkl"
    with open(path, "wb") as f:
        pickle.dump({("S1", "1"): {"R": os.getcwd}}, f)
    with pytest.raises(ValueError, match=r"cams\.pkl.*refusing to unpickle"):
        cameras.load_cameras(path)


def test_distortion_terms_default_to_zero(tmp_path):
    path = tmp_path / "cams.json"
    path.write_text(json.dumps({"S1_1": {"R": np.eye(3).tolist(), "T": [0, 0, 0], "f": [1, 1], "c": [0, 0]}}))
    camera = cameras.load_cameras(path)["S1_1"]
    np.testing.assert_array_equal(camera["k"], np.zeros(3))
    np.testing.assert_array_equal(camera["p"], np.zeros(2))
    with pytest.raises(ValueError):  # shared by all records of a camera: read-only
        camera["f"][0] = 2.0


def test_bad_points_shape():
    with pytest.raises(ValueError, match=r"points_cam must have shape \(\.\.\., 3\)"):
        cameras.project_points(np.zeros((4, 2)), {"f": [1, 1], "c": [0, 0]})
    with pytest.raises(ValueError, match=r"points_world must have shape"):
        cameras.world_to_camera(np.zeros((4, 2)), np.eye(3), np.zeros(3))

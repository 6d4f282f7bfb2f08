"""Human3.6M loader: the shared npz read independently, protocols and strides, broken files."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from keras_integral.data import cameras
from keras_integral.data import h36m

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
H36M_DIR = SAMPLES / "h36m"
NPZ = H36M_DIR / "test_h36m_body3d_subset.npz"
CAMERAS_JSON = H36M_DIR / "cameras.json"


def _sample():
    with np.load(NPZ) as data:
        return {key: data[key] for key in data.files}


def _write_npz(tmp_path, arrays, name="frames.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_sample_matches_the_files():
    data = _sample()
    with open(CAMERAS_JSON) as f:
        raw_cameras = json.load(f)
    records = h36m.load_records(NPZ, H36M_DIR, CAMERAS_JSON)
    assert len(records) == len(data["imgname"]) == 2
    for i, record in enumerate(records):
        S = data["S"][i]
        assert record.skeleton == "h36m" and record.image_id == i
        assert record.image_path == os.path.join(H36M_DIR, str(data["imgname"][i]))
        assert os.path.isfile(record.image_path)  # the sample's relative paths are right
        np.testing.assert_allclose(record.keypoints[:, :2], data["part"][i, :, :2], rtol=1e-6)
        np.testing.assert_allclose(record.keypoints[:, 2], (S[:, 2] - S[0, 2]) * 1000, atol=1e-3)
        assert record.keypoints[0, 2] == 0
        np.testing.assert_array_equal(record.weights, np.ones((17, 3)))
        np.testing.assert_allclose(record.joints_cam_mm, S[:, :3] * 1000, rtol=1e-6)
        cx, cy = data["center"][i]
        side = 200 * data["scale"][i]
        np.testing.assert_allclose(record.box, [cx - side / 2, cy - side / 2, side, side], rtol=1e-6)
        raw = raw_cameras[f"{record.meta['subject']}_{record.meta['camera_id']}"]
        for field in "RTfckp":
            np.testing.assert_array_equal(record.camera[field].reshape(-1), np.ravel(raw[field]))
    assert records[0].meta == {
        "subject": "S1", "action": "Directions", "sequence": "Directions_1", "camera_id": "54138969", "frame": 1,
    }
    assert records[1].meta == {
        "subject": "S7", "action": "Greeting", "sequence": "Greeting", "camera_id": "55011271", "frame": 396,
    }


def test_keypoints_are_the_projection_of_joints_cam():
    for record in h36m.load_records(NPZ, H36M_DIR, CAMERAS_JSON):
        uv = cameras.project_points(record.joints_cam_mm, record.camera)
        np.testing.assert_allclose(uv, record.keypoints[:, :2], atol=0.01)


def test_pkl_cameras_give_the_same_records():
    from_json = h36m.load_records(NPZ, H36M_DIR, CAMERAS_JSON)
    from_pkl = h36m.load_records(NPZ, H36M_DIR, H36M_DIR / "cameras.pkl")
    for a, b in zip(from_json, from_pkl):
        for field in "RTfckp":
            np.testing.assert_array_equal(a.camera[field], b.camera[field])


def _frames_npz(tmp_path):
    """Rows for S1, S9, S11 (cameras present in cameras.json) at frames 1..130."""
    sample = _sample()
    names = []
    for subject in ("S1", "S9", "S11"):
        for frame in (1, 2, 64, 65, 129, 130):
            video = f"{subject}_Walking.60457274"
            names.append(f"{subject}/{video}/{video}_{frame:06d}.jpg")
    n = len(names)
    arrays = {
        "imgname": np.array(names),
        "center": np.tile(sample["center"][:1], (n, 1)),
        "scale": np.tile(sample["scale"][:1], n),
        "part": np.tile(sample["part"][:1], (n, 1, 1)),
        "S": np.tile(sample["S"][:1], (n, 1, 1)),
    }
    return _write_npz(tmp_path, arrays), names


@pytest.mark.parametrize("protocol", [1, 2])
@pytest.mark.parametrize("stride", [64, 2])
def test_protocol_splits_and_test_stride(tmp_path, protocol, stride):
    path, names = _frames_npz(tmp_path)
    train_subjects = {1: {"S1", "S5", "S6", "S7", "S8", "S9"}, 2: {"S1", "S5", "S6", "S7", "S8"}}[protocol]
    test_subjects = {1: {"S11"}, 2: {"S9", "S11"}}[protocol]

    def subject(name):
        return name.split("/")[0]

    def frame(name):
        return int(name[-10:-4])

    expected_train = [n for n in names if subject(n) in train_subjects]
    expected_test = [n for n in names if subject(n) in test_subjects and frame(n) % stride == 1 % stride]
    kwargs = {"protocol": protocol, "test_stride": stride}
    train = h36m.load_records(path, tmp_path, CAMERAS_JSON, split="train", **kwargs)
    test = h36m.load_records(path, tmp_path, CAMERAS_JSON, split="test", **kwargs)
    assert [r.image_path for r in train] == [os.path.join(tmp_path, n) for n in expected_train]
    assert [r.image_path for r in test] == [os.path.join(tmp_path, n) for n in expected_test]
    assert len(h36m.load_records(path, tmp_path, CAMERAS_JSON)) == len(names)


def test_stride_64_keeps_frames_1_65_129(tmp_path):
    path, _ = _frames_npz(tmp_path)
    test = h36m.load_records(path, tmp_path, CAMERAS_JSON, protocol=1, split="test")
    assert [(r.meta["subject"], r.meta["frame"]) for r in test] == [("S11", 1), ("S11", 65), ("S11", 129)]


def test_zero_confidence_gives_zero_weights(tmp_path):
    sample = _sample()
    sample["part"][0, 3, 2] = 0  # 2D of joint 3 missing in frame 0
    sample["S"][0, 5, 3] = 0  # 3D of joint 5 missing in frame 0
    sample["S"][1, 0, 3] = 0  # root missing in frame 1: no depth is usable
    records = h36m.load_records(_write_npz(tmp_path, sample), H36M_DIR, CAMERAS_JSON)
    expected = np.ones((2, 17, 3))
    expected[0, 3, :2] = 0
    expected[0, 5, 2] = 0
    expected[1, :, 2] = 0
    np.testing.assert_array_equal([r.weights for r in records], expected)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("S"), r"missing array 'S'"),
        (lambda a: a.update(part=a["part"][:, :16]), r"'part' must be numbers of shape \(2, 17, 3\)"),
        (lambda a: a.update(center=a["center"][:1]), r"'center' must be numbers of shape \(2, 2\)"),
        (lambda a: a.update(imgname=np.array(["S1/x.jpg", a["imgname"][1]])), r"row 0: image name 'S1/x.jpg'"),
        (
            lambda a: a.update(imgname=np.array([a["imgname"][0], "S99/S99_Walking.1_000001.jpg"])),
            r"row 1 .*camera S99_1 is not in camera file",
        ),
    ],
)
def test_malformed_npz_names_file_and_row(tmp_path, change, message):
    arrays = _sample()
    change(arrays)
    path = _write_npz(tmp_path, arrays, "broken.npz")
    with pytest.raises(ValueError, match=r"broken\.npz.*" + message):
        h36m.load_records(path, H36M_DIR, CAMERAS_JSON)


def test_other_layouts_are_refused():
    # The 24-joint SPIN-layout sample has the same keys with other shapes.
    with pytest.raises(ValueError, match=r"test_h36m_subset\.npz.*'part'.*\(2, 17, 3\).*\(2, 24, 3\)"):
        h36m.load_records(H36M_DIR / "test_h36m_subset.npz", H36M_DIR, CAMERAS_JSON)


def test_bad_arguments_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        h36m.load_records(tmp_path / "missing.npz", H36M_DIR, CAMERAS_JSON)
    with pytest.raises(FileNotFoundError, match="no_dir"):
        h36m.load_records(NPZ, tmp_path / "no_dir", CAMERAS_JSON)
    with pytest.raises(FileNotFoundError, match="cams.json"):
        h36m.load_records(NPZ, H36M_DIR, tmp_path / "cams.json")
    with pytest.raises(ValueError, match="needs protocol"):
        h36m.load_records(NPZ, H36M_DIR, CAMERAS_JSON, split="test")
    with pytest.raises(ValueError, match="protocol must be"):
        h36m.load_records(NPZ, H36M_DIR, CAMERAS_JSON, protocol=3)
    with pytest.raises(ValueError, match="split must be one of"):
        h36m.load_records(NPZ, H36M_DIR, CAMERAS_JSON, protocol=1, split="valid")
    with pytest.raises(ValueError, match="test_stride"):
        h36m.load_records(NPZ, H36M_DIR, CAMERAS_JSON, protocol=1, split="test", test_stride=0)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"junk\.npz.*could not be read"):
        h36m.load_records(tmp_path / "junk.npz", H36M_DIR, CAMERAS_JSON)
    records = h36m.load_records(NPZ, tmp_path, CAMERAS_JSON)  # images need not exist
    assert records[0].image_path.startswith(str(tmp_path))


def test_a_truncated_npz_names_the_file(tmp_path):
    whole = _write_npz(tmp_path, _sample(), "whole.npz").read_bytes()
    for name, data in (("truncated.npz", whole[: len(whole) // 2]),  # no central directory
                       ("flipped.npz", whole[:200] + bytes(b ^ 0xFF for b in whole[200:264]) + whole[264:])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=name.replace(".", r"\.") + r".*could not be read as an \.npz"):
            h36m.load_records(tmp_path / name, H36M_DIR, CAMERAS_JSON)


def test_frames_with_non_finite_values_are_skipped_and_counted(tmp_path):
    sample = _sample()
    sample["S"][1, 4, 0] = np.nan  # 3D joint 4 of frame 1
    with pytest.warns(UserWarning, match=r"frames\.npz.*skipped 1 of 2 frames \(rows\): "
                                         r"1 non-finite 3D joints \(S\) \(1\)"):
        records = h36m.load_records(_write_npz(tmp_path, sample), H36M_DIR, CAMERAS_JSON)
    assert [r.image_id for r in records] == [0]
    sample = _sample()
    sample["part"][0, 3] = [np.nan, np.nan, 0.0]  # an unlabelled 2D joint may be anything
    sample["center"][1, 0] = np.inf
    with pytest.warns(UserWarning, match=r"skipped 1 of 2 .*1 box not finite and > 0 \(center, scale\) \(1\)"):
        records = h36m.load_records(_write_npz(tmp_path, sample), H36M_DIR, CAMERAS_JSON)
    assert [r.image_id for r in records] == [0] and records[0].weights[3, 0] == 0

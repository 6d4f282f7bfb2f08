"""Human3.6M in the authors' layout (matlab_meta.txt folders, pickled caches), built from the shared samples."""

import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from keras_integral.data import cameras
from keras_integral.data import h36m
from keras_integral.data import transforms

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
H36M_DIR = SAMPLES / "h36m"
NPZ = H36M_DIR / "test_h36m_body3d_subset.npz"
CAMERAS_JSON = H36M_DIR / "cameras.json"

CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")  # ca_01 .. ca_04
ACTIONS = {
    "Directions": 2, "Discussion": 3, "Eating": 4, "Greeting": 5, "Phoning": 6, "Posing": 7, "Purchases": 8,
    "Sitting": 9, "SittingDown": 10, "Smoking": 11, "Photo": 12, "TakingPhoto": 12, "Waiting": 13, "Walking": 14,
    "WalkDog": 15, "WalkingDog": 15, "WalkTogether": 16,
}
JT_LIST = np.array([1, 2, 3, 4, 7, 8, 9, 13, 14, 15, 16, 18, 19, 20, 26, 27, 28])
SHIFT_MM = np.array([1.0, 0.0, 0.0])  # frame n's world joints = the sample's + (n - sample frame) * SHIFT_MM


def sample_frames():
    """The two sample frames: their video in the authors' naming, camera, joints and 2D."""
    with open(CAMERAS_JSON) as f:
        table = json.load(f)
    frames = []
    with np.load(NPZ) as data:
        for i, name in enumerate(data["imgname"]):
            subject, folder, file = str(name).split("/")  # S1, S1_Directions_1.54138969, ..._000001.jpg
            sequence, camera_id = folder.split(".")
            action, _, take = sequence.split("_", 1)[1].partition("_")
            ids = {"subject": int(subject[1:]), "action": ACTIONS[action], "subaction": int(take or 1),
                   "camera": CAMERA_IDS.index(camera_id) + 1}
            frames.append({
                "action": action,
                "video": "s_{subject:02d}_act_{action:02d}_subact_{subaction:02d}_ca_{camera:02d}".format(**ids),
                "ids": ids,
                "frame": int(file[-10:-4]),
                "camera": {key: np.asarray(value) for key, value in table[f"{subject}_{camera_id}"].items()
                           if key in ("R", "T", "f", "c", "k", "p", "w", "h")},
                "joints_m": data["S"][i, :, :3],
                "part": data["part"][i, :, :2],
                "image": H36M_DIR / str(name),
            })
    return frames


def world_mm(frame):
    """The frame's 17 joints in world mm: `R @ X_cam + T` (the inverse of `X_cam = R.T @ (X_world - T)`)."""
    camera = frame["camera"]
    return (frame["joints_m"] @ camera["R"].T + camera["T"].reshape(3)) * 1000.0


def write_video(annot, images, video, camera, joints_world_mm, image=None, frame_with_image=1):
    """One video in the authors' layout: `annot/<video>/matlab_meta.txt`, `images/<video>/`.

    `joints_world_mm` `(frames, 17, 3)` go to the `JT_LIST` slots of 32 joints;
    the other 15 slots hold random numbers the loader must ignore.
    """
    rng = np.random.default_rng(0)
    raw = rng.uniform(-1e5, 1e5, (len(joints_world_mm), 32, 3))
    raw[:, JT_LIST - 1] = joints_world_mm

    def line(tag, values):
        return " ".join([tag] + [repr(float(v)) for v in np.ravel(values)])

    lines = [
        str(len(raw)),
        f"ImageSize {int(camera['w'])} {int(camera['h'])}",
        line("R", camera["R"]),  # row-major
        line("T", camera["T"] * 1000.0),
        line("f", camera["f"]),
        line("c", camera["c"]),
        line("k", camera["k"]),
        line("p", camera["p"]),
        "jt_list " + " ".join(str(j) for j in JT_LIST),
    ] + [line(f"frame{n + 1}", joints) for n, joints in enumerate(raw)]
    (annot / video).mkdir(parents=True)
    (annot / video / "matlab_meta.txt").write_text("\n".join(lines) + "\n")
    (images / video).mkdir(parents=True)
    if image is not None:
        os.symlink(image, images / video / f"{video}_{frame_with_image:06d}.jpg")
    return annot / video / "matlab_meta.txt"


def shifted_frames(frame, num_frames):
    """`(num_frames, 17, 3)` world mm: the sample's pose at its own frame, moved by SHIFT_MM per frame."""
    offsets = np.arange(1, num_frames + 1) - frame["frame"]
    return world_mm(frame)[None] + offsets[:, None, None] * SHIFT_MM


@pytest.fixture
def authors_root(tmp_path):
    """The two sample frames as the authors' layout: each video padded so the sample's frame exists."""
    frames = sample_frames()
    for frame in frames:
        write_video(tmp_path / "annot", tmp_path / "images", frame["video"], frame["camera"],
                    shifted_frames(frame, frame["frame"] + 2), image=frame["image"], frame_with_image=frame["frame"])
    return tmp_path, frames


def pinhole_box(joints_m, camera, side_m):
    """`[x, y, w, h]`: the side_m square at the pelvis, parallel to the image, through a pinhole."""
    X, Y, Z = joints_m[0]
    f, c = camera["f"].reshape(2), camera["c"].reshape(2)
    w, h = f * side_m / Z
    u, v = f * np.array([X, Y]) / Z + c
    return np.array([u - w / 2, v - h / 2, w, h])


def test_folder_matches_the_sample(authors_root):
    root, frames = authors_root
    records = h36m.load_records(root / "annot", root / "images")
    videos = sorted(frame["video"] for frame in frames)
    assert [r.meta["video"] for r in records] == [v for v in videos for _ in range(
        next(f["frame"] + 2 for f in frames if f["video"] == v))]
    assert [r.image_id for r in records] == list(range(len(records)))  # the row over the videos in name order
    for frame in frames:
        video = [r for r in records if r.meta["video"] == frame["video"]]
        assert [r.meta["frame"] for r in video] == list(range(1, frame["frame"] + 3))
        record = video[frame["frame"] - 1]
        assert record.skeleton == "h36m"
        assert record.image_path == os.path.join(root / "images", frame["video"],
                                                 f"{frame['video']}_{frame['frame']:06d}.jpg")
        assert os.path.isfile(record.image_path)
        np.testing.assert_allclose(record.joints_cam_mm, frame["joints_m"] * 1000, atol=1e-3)
        np.testing.assert_allclose(record.keypoints[:, :2], frame["part"], atol=0.01)  # distortion included
        joints_mm = frame["joints_m"] * 1000
        np.testing.assert_allclose(record.keypoints[:, 2], joints_mm[:, 2] - joints_mm[0, 2], atol=1e-3)
        assert record.keypoints[0, 2] == 0
        np.testing.assert_array_equal(record.weights, np.ones((17, 3)))
        # The authors' 2000 mm crop is the pipeline's 1.25 margin on a 1600 mm box.
        np.testing.assert_allclose(record.box, pinhole_box(frame["joints_m"], frame["camera"], 1.6), atol=1e-3)
        np.testing.assert_allclose(record.box[2:] * transforms.CROP_MARGIN,
                                   pinhole_box(frame["joints_m"], frame["camera"], 2.0)[2:], rtol=1e-5)
        ids = frame["ids"]
        # The action is named as in the npz, so per-action results of both layouts line up.
        assert record.meta == {"subject": f"S{ids['subject']}", "action": frame["action"], "action_id": ids["action"],
                               "subaction": ids["subaction"], "camera": ids["camera"], "frame": frame["frame"],
                               "video": frame["video"]}
        for field in "RTfckp":
            np.testing.assert_allclose(record.camera[field].reshape(-1), frame["camera"][field].reshape(-1),
                                       rtol=1e-12, atol=1e-15)
        assert (record.camera["w"], record.camera["h"]) == (frame["camera"]["w"], frame["camera"]["h"])
        # Row n is frame n + 1: the next frame is the pose moved by SHIFT_MM in the world.
        following = frame["joints_m"] * 1000 + frame["camera"]["R"].T @ SHIFT_MM
        np.testing.assert_allclose(video[frame["frame"]].joints_cam_mm, following, atol=1e-3)
    assert records[0].meta == {"subject": "S1", "action": "Directions", "action_id": 2, "subaction": 1, "camera": 1,
                               "frame": 1, "video": "s_01_act_02_subact_01_ca_01"}


def test_world_joints_of_the_released_file_give_the_sample_camera_joints(tmp_path):
    """M = the H36M camera R, no transpose: world joints from another file (h36m_coco_subset.json) agree."""
    with open(H36M_DIR / "h36m_coco_subset.json") as f:
        coco = json.load(f)
    names = {image["id"]: image["file_name"] for image in coco["images"]}
    for annotation in coco["annotations"]:
        frame = next(f for f in sample_frames() if f["image"].name == names[annotation["image_id"]])
        world = np.reshape(annotation["keypoints_3d"], (17, 4))[None, :, :3] * 1000.0
        write_video(tmp_path / "annot", tmp_path / "images", frame["video"], frame["camera"], world)
    records = h36m.load_records(tmp_path / "annot", tmp_path / "images")
    assert len(records) == 2
    for record in records:
        frame = next(f for f in sample_frames() if f["video"] == record.meta["video"])
        np.testing.assert_allclose(record.joints_cam_mm, frame["joints_m"] * 1000, atol=1e-3)
        np.testing.assert_allclose(record.keypoints[:, :2], frame["part"], atol=0.01)


def split_root(tmp_path, num_frames=130):
    """Videos of S1, S9, S11 (the first sample frame's camera and pose) with `num_frames` frames each."""
    frame = sample_frames()[0]
    for subject in (1, 9, 11):
        video = f"s_{subject:02d}_act_14_subact_02_ca_01"
        write_video(tmp_path / "annot", tmp_path / "images", video, frame["camera"],
                    np.repeat(world_mm(frame)[None], num_frames, axis=0))
    return tmp_path


@pytest.mark.parametrize("protocol", [1, 2])
@pytest.mark.parametrize("stride", [64, 2])
def test_protocol_splits_and_test_stride(tmp_path, protocol, stride):
    root = split_root(tmp_path)
    train_subjects = {1: ("S1", "S9"), 2: ("S1",)}[protocol]
    test_subjects = {1: ("S11",), 2: ("S9", "S11")}[protocol]
    kwargs = {"protocol": protocol, "test_stride": stride}
    train = h36m.load_records(root / "annot", root / "images", split="train", **kwargs)
    test = h36m.load_records(root / "annot", root / "images", split="test", **kwargs)
    everything = h36m.load_records(root / "annot", root / "images")
    assert [(r.meta["subject"], r.meta["frame"]) for r in train] == [
        (s, n) for s in train_subjects for n in range(1, 131)]
    assert [(r.meta["subject"], r.meta["frame"]) for r in test] == [
        (s, n) for s in test_subjects for n in range(1, 131, stride)]
    assert len(everything) == 3 * 130
    # Image ids are rows over every video, so a split keeps the ids of the full set.
    by_id = {r.image_id: r.image_path for r in everything}
    assert all(by_id[r.image_id] == r.image_path for r in train + test)


def test_stride_64_keeps_frames_1_65_129(tmp_path):
    root = split_root(tmp_path)
    test = h36m.load_records(root / "annot", root / "images", protocol=1, split="test")
    assert [(r.meta["subject"], r.meta["frame"]) for r in test] == [("S11", 1), ("S11", 65), ("S11", 129)]


def test_box_mm_sets_the_crop(authors_root):
    root, frames = authors_root
    record = h36m.load_records(root / "annot", root / "images", box_mm=2000.0)[frames[0]["frame"] - 1]
    np.testing.assert_allclose(record.box, pinhole_box(frames[0]["joints_m"], frames[0]["camera"], 2.0), atol=1e-3)


# === The pickled cache ===


def authors_cache_entry(frame, joints_m, folder, number):
    """One `gt_db` entry as the authors' `hm36.gt_db` writes it: 18 joints, pinhole, a 2000 mm box."""
    camera = frame["camera"]
    f, c = camera["f"].reshape(2), camera["c"].reshape(2)
    joints_cam = joints_m * 1000.0
    joints_cam = np.concatenate([joints_cam, (joints_cam[11:12] + joints_cam[14:15]) / 2])  # + thorax
    uv = joints_cam[:, :2] / joints_cam[:, 2:] * f + c
    pelvis = joints_cam[0]
    left, top = (pelvis[:2] - 1000.0) / pelvis[2] * f + c
    right, bottom = (pelvis[:2] + 1000.0) / pelvis[2] * f + c
    return {
        "image": f"/home/author/data/hm36/images/{folder}/{folder}_{number:06d}.jpg",
        "center_x": (left + right) / 2, "center_y": (top + bottom) / 2,
        "width": right - left, "height": bottom - top,
        "flip_pairs": np.array([[1, 4], [2, 5], [3, 6], [14, 11], [15, 12], [16, 13]]),
        "parent_ids": np.array([0, 0, 1, 2, 0, 4, 5, 0, 17, 17, 8, 17, 11, 12, 17, 14, 15, 0]),
        "joints_3d": np.concatenate([uv, joints_cam[:, 2:] - pelvis[2]], axis=1),
        "joints_3d_vis": np.ones((18, 3)),
        "joints_3d_cam": joints_cam,
        "pelvis": pelvis,
        "fl": f,
        "c_p": c,
        "bone_len": 4000.0,
    }


def python2_pickle(value):
    """`value` (dicts, lists, str, float, float arrays) pickled as Python 2 / NumPy 1.x did (protocol 2)."""

    def string(s):  # a Python 2 str: BINSTRING
        data = s.encode("latin1")
        return b"T" + struct.pack("<i", len(data)) + data

    def dump(v):
        if isinstance(v, dict):
            return b"}(" + b"".join(dump(k) + dump(x) for k, x in v.items()) + b"u"
        if isinstance(v, list):
            return b"](" + b"".join(dump(x) for x in v) + b"e"
        if isinstance(v, str):
            return string(v)
        if isinstance(v, float):
            return b"G" + struct.pack(">d", v)
        v = np.asarray(v, "<f8")
        shape = b"(" + b"".join(b"J" + struct.pack("<i", n) for n in v.shape) + b"t"
        dtype = (b"cnumpy\ndtype\n" + string("f8") + b"K\x00K\x01\x87R(K\x03" + string("<")
                 + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n(K\x00t" + string("b") + b"\x87R(K\x01"
                + shape + dtype + b"\x89" + string(v.tobytes().decode("latin1")) + b"tb")

    return b"\x80\x02" + dump(value) + b"."


def write_cache(tmp_path, db, python2=False, name="HM36_keypoint_db_sample-1.pkl"):
    path = tmp_path / name
    if python2:
        db = [{k: float(v) if np.ndim(v) == 0 and not isinstance(v, str) else v for k, v in e.items()} for e in db]
        path.write_bytes(python2_pickle(db))
    else:
        with open(path, "wb") as f:
            pickle.dump(db, f, pickle.HIGHEST_PROTOCOL)
    return path


@pytest.mark.parametrize("python2", [False, True])
def test_cache_matches_the_sample(authors_root, python2):
    root, frames = authors_root
    db = [authors_cache_entry(frame, frame["joints_m"], frame["video"], frame["frame"]) for frame in frames]
    db[1]["joints_3d_vis"][3] = 0
    records = h36m.load_records(write_cache(root, db, python2), root / "images")
    from_folder = h36m.load_records(root / "annot", root / "images")
    assert len(records) == 2
    for i, (record, frame, entry) in enumerate(zip(records, frames, db)):
        assert record.image_id == i
        assert record.image_path == os.path.join(root / "images", frame["video"],
                                                 f"{frame['video']}_{frame['frame']:06d}.jpg")
        assert os.path.isfile(record.image_path)
        np.testing.assert_allclose(record.keypoints, entry["joints_3d"][:17], rtol=1e-6)  # pinhole, as theirs
        np.testing.assert_allclose(record.joints_cam_mm, frame["joints_m"] * 1000, atol=1e-3)
        expected_weights = np.ones((17, 3))
        if i == 1:
            expected_weights[3] = 0
        np.testing.assert_array_equal(record.weights, expected_weights)
        np.testing.assert_allclose(record.box, pinhole_box(frame["joints_m"], frame["camera"], 1.6), atol=1e-3)
        np.testing.assert_array_equal(record.camera["f"], frame["camera"]["f"].reshape(2))
        np.testing.assert_array_equal(record.camera["c"], frame["camera"]["c"].reshape(2))
        for field, value in {"k": np.zeros(3), "p": np.zeros(2), "R": np.eye(3), "T": np.zeros(3)}.items():
            np.testing.assert_array_equal(record.camera[field], value)
        # The camera reproduces the cache's keypoints; the folder's (distorted) ones differ by < 3 px.
        np.testing.assert_allclose(cameras.project_points(record.joints_cam_mm, record.camera),
                                   record.keypoints[:, :2], atol=1e-3)
        folder = next(r for r in from_folder if r.meta == record.meta)
        np.testing.assert_allclose(record.box, folder.box, atol=1e-3)
        np.testing.assert_allclose(record.keypoints[:, 2], folder.keypoints[:, 2], atol=1e-3)
        assert np.abs(record.keypoints[:, :2] - folder.keypoints[:, :2]).max() < 3
    assert records[0].meta == {"subject": "S1", "action": "Directions", "action_id": 2, "subaction": 1, "camera": 1,
                               "frame": 1, "video": "s_01_act_02_subact_01_ca_01"}


def test_cache_splits(tmp_path):
    frame = sample_frames()[0]
    db = []
    for subject in (1, 9, 11):
        video = f"s_{subject:02d}_act_14_subact_02_ca_01"
        (tmp_path / "images" / video).mkdir(parents=True)
        db += [authors_cache_entry(frame, frame["joints_m"], video, n) for n in range(1, 131)]
    path = write_cache(tmp_path, db)
    test = h36m.load_records(path, tmp_path / "images", protocol=2, split="test")
    train = h36m.load_records(path, tmp_path / "images", protocol=2, split="train", test_stride=2)
    assert [(r.meta["subject"], r.meta["frame"]) for r in test] == [
        (s, n) for s in ("S9", "S11") for n in (1, 65, 129)]
    assert [r.image_id for r in test] == [130, 194, 258, 260, 324, 388]  # rows in the file
    assert [(r.meta["subject"], r.meta["frame"]) for r in train] == [("S1", n) for n in range(1, 131)]


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_hostile_cache_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([_RunsCode(marker)]))
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match=r"evil\.pkl.*refusing to unpickle (posix|os|nt)\.system"):
        h36m.load_records(path, tmp_path / "images")
    assert not marker.exists()


# === Malformed input ===


@pytest.fixture
def small_root(tmp_path):
    """One 3-frame video of S1; returns (root, path of its matlab_meta.txt)."""
    frame = sample_frames()[0]
    meta = write_video(tmp_path / "annot", tmp_path / "images", frame["video"], frame["camera"],
                       np.repeat(world_mm(frame)[None], 3, axis=0))
    return tmp_path, meta


def _edit_line(meta, number, edit):
    """Applies `edit` to line `number` (1-based) of the file."""
    lines = meta.read_text().splitlines()
    lines[number - 1] = edit(lines[number - 1])
    meta.write_text("\n".join(lines) + "\n")


def _behind_the_camera(line):
    """A frame line with every joint 1 m behind the first sample's camera."""
    camera = sample_frames()[0]["camera"]
    world_mm = (camera["T"].reshape(3) - camera["R"][:, 2]) * 1000.0  # X_cam = R.T @ (-R e_z) = (0, 0, -1) m
    return "frame " + " ".join(repr(float(v)) for v in np.tile(world_mm, 32))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: _edit_line(m, 1, lambda s: "three"), r"line 1: expected the number of frames"),
        (lambda m: _edit_line(m, 1, lambda s: "4"), r"expected 13 lines \(9 \+ the 4 frames of line 1\), got 12"),
        (lambda m: m.write_text(m.read_text() + "frame4 1 2 3\n"), r"expected 12 lines .* got 13"),
        (lambda m: _edit_line(m, 5, lambda s: s + " 7"), r"line 5: expected a tag and 2 numbers \(fx fy\), got 3"),
        (lambda m: _edit_line(m, 3, lambda s: "R 1 2 3"), r"line 3: expected a tag and 9 numbers \(M, 3x3"),
        (lambda m: _edit_line(m, 6, lambda s: "c 500 abc"), r"line 6: 'abc' is not a number \(expected cx cy\)"),
        (lambda m: _edit_line(m, 4, lambda s: "T 1 nan 3"), r"line 4: expected finite numbers"),
        (lambda m: _edit_line(m, 9, lambda s: s.replace(" 28", " 33")), r"line 9: jt_list must be 17 integers"),
        (lambda m: _edit_line(m, 9, lambda s: s.replace("jt_list 1 ", "jt_list 0 ")), r"line 9: jt_list"),
        (lambda m: _edit_line(m, 9, lambda s: s + " 29"), r"line 9: expected a tag and 17 numbers"),
        (lambda m: _edit_line(m, 11, lambda s: s.rsplit(" ", 1)[0]), r"line 11: expected a tag and 96 numbers"),
        (lambda m: _edit_line(m, 12, lambda s: s.replace(" ", " x", 1)), r"line 12: 'x.*' is not a number"),
        (lambda m: _edit_line(m, 12, _behind_the_camera), r"line 12: the pelvis is at Z = -1000\.0 mm"),
    ],
)
def test_malformed_meta_names_the_file_and_line(small_root, change, message):
    root, meta = small_root
    change(meta)
    with pytest.raises(ValueError, match=r"matlab_meta\.txt.*" + message):
        h36m.load_records(root / "annot", root / "images")


@pytest.mark.parametrize(
    "video, message",
    [
        ("s_01_act_02_subact_01", r"video name 's_01_act_02_subact_01' does not match"),
        ("S1_Directions", r"does not match 's_%02d_act_%02d_subact_%02d_ca_%02d'"),
        ("s_02_act_02_subact_01_ca_01", r"has subject 2, expected one of \[1, 5, 6, 7, 8, 9, 11\]"),
        ("s_01_act_17_subact_01_ca_01", r"has action 17"),
        ("s_01_act_02_subact_03_ca_01", r"has subaction 3"),
        ("s_01_act_02_subact_01_ca_05", r"has camera 5"),
    ],
)
def test_bad_video_folder_names(small_root, video, message):
    root, meta = small_root
    os.rename(meta.parent, root / "annot" / video)
    with pytest.raises(ValueError, match=r"annot.*" + message):
        h36m.load_records(root / "annot", root / "images")


def test_missing_files_and_folders(small_root, tmp_path_factory):
    root, meta = small_root
    video = meta.parent.name
    os.rename(root / "images" / video, root / "images" / "elsewhere")
    with pytest.raises(FileNotFoundError, match=rf"images folder .*images/{video}'"):
        h36m.load_records(root / "annot", root / "images")
    # A video outside the split is not read, so its images need not be there.
    assert h36m.load_records(root / "annot", root / "images", protocol=1, split="test") == []
    with pytest.raises(FileNotFoundError, match="no_images"):
        h36m.load_records(root / "annot", root / "no_images")
    os.rename(root / "images" / "elsewhere", root / "images" / video)
    meta.unlink()
    with pytest.raises(FileNotFoundError, match=rf"{video}/matlab_meta\.txt"):
        h36m.load_records(root / "annot", root / "images")
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(ValueError, match=r"empty.*holds no video folders"):
        h36m.load_records(empty, root / "images")
    with pytest.raises(FileNotFoundError, match=r"no_annot.*do not exist"):
        h36m.load_records(root / "no_annot", root / "images")
    with pytest.raises(FileNotFoundError, match=r"missing\.pkl"):
        h36m.load_records(root / "missing.pkl", root / "images")


def test_cameras_file_and_box_mm_only_where_they_apply(small_root):
    root, _ = small_root
    with pytest.raises(ValueError, match=r"annot.*own calibration; pass cameras_file=None"):
        h36m.load_records(root / "annot", root / "images", CAMERAS_JSON)
    with pytest.raises(ValueError, match=r"test_h36m_body3d_subset\.npz.*needs cameras_file"):
        h36m.load_records(NPZ, H36M_DIR)
    with pytest.raises(ValueError, match=r"box_mm applies to the authors' folder layout only"):
        h36m.load_records(NPZ, H36M_DIR, CAMERAS_JSON, box_mm=2000.0)
    with pytest.raises(ValueError, match=r"box_mm must be a positive number"):
        h36m.load_records(root / "annot", root / "images", box_mm=0)


@pytest.mark.parametrize(
    "db, message",
    [
        ({"image": "x"}, r"expected a list of dicts \(the authors' gt_db\), got dict"),
        ([["image"]], r"row 0: expected a dict with an 'image' path string"),
        ("row1", r"row 1: image '/data/s_01_act_02_subact_01_ca_01/frame_000001\.jpg' does not end in"),
        ("nojpg", r"row 0: image 'nojpg' does not end in '<video>/<video>_<frame>\.jpg'"),
        ("subject", r"row 0: video 's_03_act_02_subact_01_ca_01' has subject 3"),
        ("missing", r"row 1: missing key 'fl' \(fx fy, shape \(2,\)\)"),
        ("shape", r"row 0: 'joints_3d' must be finite numbers of shape \(18, 3\) \(\(u, v, Z - Z_root\)\), got shape"),
        ("nan", r"row 0: 'center_x' must be finite numbers .* non-finite"),
        ("width", r"row 1: box width and height must be > 0"),
    ],
)
def test_malformed_cache_names_the_file_and_row(tmp_path, db, message):
    frame = sample_frames()[0]
    (tmp_path / "images" / frame["video"]).mkdir(parents=True)
    good = [authors_cache_entry(frame, frame["joints_m"], frame["video"], n) for n in (1, 2)]
    if isinstance(db, str):
        kind, db = db, good
        if kind == "row1":
            db[1]["image"] = "/data/s_01_act_02_subact_01_ca_01/frame_000001.jpg"
        elif kind == "nojpg":
            db[0]["image"] = "nojpg"
        elif kind == "subject":
            db[0]["image"] = db[0]["image"].replace("s_01", "s_03")
        elif kind == "missing":
            del db[1]["fl"]
        elif kind == "shape":
            db[0]["joints_3d"] = db[0]["joints_3d"][:17]
        elif kind == "nan":
            db[0]["center_x"] = float("nan")
        elif kind == "width":
            db[1]["width"] = -1.0
    path = write_cache(tmp_path, db, name="broken.pkl")
    with pytest.raises(ValueError, match=r"broken\.pkl.*" + message):
        h36m.load_records(path, tmp_path / "images")


def test_unreadable_cache(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"junk\.pkl' could not be read as a pickle"):
        h36m.load_records(tmp_path / "junk.pkl", tmp_path / "images")


# === Recipes and training ===


def test_recipe_trains_from_the_authors_folder(tmp_path):
    from keras_integral.recipes import load_recipe
    from keras_integral.recipes import recipe_from_dict
    from keras_integral.training import load_split

    split_root(tmp_path / "hm36", num_frames=3)
    values = {"dataset": "h36m", "train_annotations": "hm36/annot", "train_images": "hm36/images",
              "protocol": 1, "test_stride": 2, "method": "I2", "skeleton": "h36m", "depth_bins": 16}
    path = tmp_path / "r.yaml"
    path.write_text("".join(f"{key}: {value}\n" for key, value in values.items()))
    recipe = load_recipe(path)
    assert recipe.cameras is None
    assert recipe_from_dict(dict(values, train_annotations="hm36/HM36_keypoint_db_sample-1.pkl")).cameras is None
    with pytest.raises(ValueError, match=r"'cameras'.*required"):
        recipe_from_dict(dict(values, train_annotations="h36m/train.npz"))
    train = load_split(recipe, str(tmp_path), "train")
    val = load_split(recipe, str(tmp_path), "val")
    assert [(r.meta["subject"], r.meta["frame"]) for r in train] == [(s, n) for s in ("S1", "S9") for n in (1, 2, 3)]
    assert [(r.meta["subject"], r.meta["frame"]) for r in val] == [("S11", 1), ("S11", 3)]
    assert train[0].image_path == os.path.join(str(tmp_path), "hm36/images", train[0].meta["video"],
                                               f"{train[0].meta['video']}_000001.jpg")

"""Synthetic data set: files checked against independent computations and the real loaders."""

import contextlib
import io
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from keras_integral import skeletons
from keras_integral.data import coco as coco_loader
from keras_integral.data import h36m as h36m_loader
from keras_integral.data import synthetic
from keras_integral.data.synthetic import poses

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
SIZE = (96, 96)
NUM = 8
H36M_NAMES = skeletons.get("h36m").joint_names
COCO_NAMES = skeletons.get("coco").joint_names


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    summary = synthetic.generate(out, NUM, seed=3, image_size=SIZE, verbose=0)
    return out, summary


def _coco(path):
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        return COCO(str(path))


def _all_annotations(out):
    anns = {}
    for split in ("train", "val"):
        data = json.loads((out / "coco" / "annotations" / f"person_keypoints_{split}.json").read_text())
        anns.update({a["image_id"]: a for a in data["annotations"]})
    return anns


def _project_h36m(points, cam):
    """Human3.6M ProjectPointRadial written out per coordinate (README of the samples)."""
    f, c = np.ravel(cam["f"]), np.ravel(cam["c"])
    k1, k2, k3 = np.ravel(cam["k"])
    p1, p2 = np.ravel(cam["p"])
    u, v = [], []
    for X, Y, Z in points:
        x, y = X / Z, Y / Z
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        tan = p1 * y + p2 * x
        u.append(f[0] * (x * (radial + tan) + p2 * r2) + c[0])
        v.append(f[1] * (y * (radial + tan) + p1 * r2) + c[1])
    return np.stack([u, v], axis=1)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_and_another_seed_differs(dataset, tmp_path):
    out, _ = dataset
    synthetic.generate(tmp_path / "again", NUM, seed=3, image_size=SIZE, verbose=0)
    synthetic.generate(tmp_path / "other", NUM, seed=4, image_size=SIZE, verbose=0)
    synthetic.generate(tmp_path / "longer", NUM + 1, seed=3, image_size=SIZE, verbose=0)
    first, again, other = _files(out), _files(tmp_path / "again"), _files(tmp_path / "other")
    assert len(first) >= 2 * NUM + 5
    assert first == again
    coco_images = [n for n in first if n.startswith("coco/images/")]
    assert all(first[n] != other[n] for n in coco_images)
    longer = _files(tmp_path / "longer")  # image i does not depend on how many are made
    assert all(longer[n] == first[n] for n in coco_images)
    for name in ("coco/annotations/person_keypoints_train.json", "h36m/annotations.npz", "h36m/cameras.json"):
        assert first[name] != other[name]


def test_images_are_jpegs_of_the_requested_size_and_both_layouts_share_them(dataset):
    out, _ = dataset
    coco_images = sorted((out / "coco" / "images").glob("*.jpg"))
    assert [p.name for p in coco_images] == [f"{i:012d}.jpg" for i in range(1, NUM + 1)]
    names = np.load(out / "h36m" / "annotations.npz")["imgname"]
    for path, name in zip(coco_images, names):
        data = path.read_bytes()
        assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9"  # JPEG SOI ... EOI
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (*SIZE, 3)
        assert image.std() > 10  # not blank
        assert (out / "h36m" / "images" / name).read_bytes() == data


def test_coco_file_loads_with_pycocotools_and_follows_the_sample_layout(dataset):
    out, summary = dataset
    with open(SAMPLES / "coco" / "test_coco_subset.json") as f:
        sample_category = json.load(f)["categories"][0]
    ids = []
    for split, count in (("train", NUM - 1), ("val", 1)):  # val: round(8 * 0.1) = 1 image
        path = out / "coco" / "annotations" / f"person_keypoints_{split}.json"
        assert summary[f"coco_{split}"] == path
        index = _coco(path)
        assert len(index.getImgIds()) == count
        category = index.loadCats([1])[0]
        assert category["keypoints"] == sample_category["keypoints"]
        assert category["skeleton"] == sample_category["skeleton"]
        for image in index.loadImgs(index.getImgIds()):
            assert (image["width"], image["height"]) == (SIZE[1], SIZE[0])
            (ann,) = index.loadAnns(index.getAnnIds(imgIds=[image["id"]]))
            ids.append(image["id"])
            kp = np.reshape(ann["keypoints"], (17, 3))
            assert ann["category_id"] == 1 and ann["iscrowd"] == 0
            assert ann["num_keypoints"] == int((kp[:, 2] > 0).sum())
            x, y, w, h = ann["bbox"]
            seen = kp[kp[:, 2] == 2, :2]
            assert w > 0 and h > 0 and 0 < ann["area"] <= w * h + 1e-6
            assert np.all(seen[:, 0] >= x - 1) and np.all(seen[:, 0] <= x + w + 1)
            assert np.all(seen[:, 1] >= y - 1) and np.all(seen[:, 1] <= y + h + 1)
    assert sorted(ids) == list(range(1, NUM + 1))


def test_coco_keypoints_match_h36m_part_for_shared_joints(dataset):
    out, _ = dataset
    data = np.load(out / "h36m" / "annotations.npz")
    anns = _all_annotations(out)
    mapping = skeletons.joint_mapping("coco", "h36m")  # H36M joint -> COCO joint or -1
    compared = 0
    for row, part in enumerate(data["part"]):
        kp = np.reshape(anns[row + 1]["keypoints"], (17, 3))
        for h36m_joint, coco_joint in enumerate(mapping):
            if coco_joint >= 0 and kp[coco_joint, 2] > 0:
                np.testing.assert_allclose(kp[coco_joint, :2], part[h36m_joint, :2], atol=1e-3)
                compared += 1
    assert compared > NUM * 8


def test_projecting_s_with_the_camera_file_reproduces_part(dataset):
    out, _ = dataset
    data = np.load(out / "h36m" / "annotations.npz")
    cams = json.loads((out / "h36m" / "cameras.json").read_text())
    assert len(cams) == 7 * 4
    distortion_matters = 0
    for name, joints, part in zip(data["imgname"], data["S"], data["part"]):
        base = os.path.basename(str(name))
        cam = cams[base.split("_")[0] + "_" + base.split(".")[1].split("_")[0]]
        np.testing.assert_allclose(_project_h36m(joints[:, :3], cam), part[:, :2], atol=1e-6)
        pinhole = joints[:, :2] / joints[:, 2:3] * np.ravel(cam["f"]) + np.ravel(cam["c"])
        distortion_matters += np.abs(pinhole - part[:, :2]).max() > 0.05
        assert np.all(part[:, 2] == 1) and np.all(joints[:, 3] == 1)
        assert synthetic.DISTANCE_RANGE_M[0] <= joints[0, 2] <= synthetic.DISTANCE_RANGE_M[1]
        R = np.asarray(cam["R"])
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
    assert distortion_matters == NUM


def test_h36m_names_subjects_frames_and_boxes(dataset):
    out, _ = dataset
    data = np.load(out / "h36m" / "annotations.npz")
    frames_by_sequence = {}
    for i, name in enumerate(data["imgname"]):
        subject, sequence, file_name = str(name).split("/")
        assert subject == synthetic.SUBJECTS[i % 7]
        assert sequence.startswith(subject + "_") and file_name.startswith(sequence + "_")
        frames_by_sequence.setdefault(sequence, []).append(int(file_name[-10:-4]))
    for frames in frames_by_sequence.values():
        assert frames == [1 + 64 * j for j in range(len(frames))]
    low, high = data["part"][:, :, :2].min(axis=1), data["part"][:, :, :2].max(axis=1)
    np.testing.assert_allclose(data["center"], (low + high) / 2)
    np.testing.assert_allclose(data["scale"], 1.2 * (high - low).max(axis=1) / 200)
    readme = (out / "README.md").read_text()
    assert "seed 3" in readme and f"version {synthetic.GENERATOR_VERSION}" in readme


def test_frames_of_a_sequence_are_the_ones_every_64th_frame_sampling_keeps(tmp_path):
    synthetic.generate(tmp_path, 60, seed=0, image_size=(32, 32), verbose=0)
    names = [str(n) for n in np.load(tmp_path / "h36m" / "annotations.npz")["imgname"]]
    frames_by_sequence = {}
    for name in names:
        frames_by_sequence.setdefault(name.split("/")[1], []).append(int(name[-10:-4]))
    assert max(len(frames) for frames in frames_by_sequence.values()) >= 2
    for frames in frames_by_sequence.values():
        assert frames == [1 + 64 * j for j in range(len(frames))]
    test = h36m_loader.load_records(tmp_path / "h36m" / "annotations.npz", tmp_path / "h36m" / "images",
                                    tmp_path / "h36m" / "cameras.json", protocol=1, split="test")
    assert sorted(r.image_id for r in test) == [i for i, n in enumerate(names) if n.startswith("S11/")]


def test_bone_lengths_are_human_and_symmetric(dataset):
    out, _ = dataset
    S = np.load(out / "h36m" / "annotations.npz")["S"][:, :, :3]

    def length(a, b):
        return np.linalg.norm(S[:, H36M_NAMES.index(a)] - S[:, H36M_NAMES.index(b)], axis=-1)

    # Adult joint-centre segment lengths (metres) for statures of 1.5-1.95 m.
    ranges = {("hip", "knee"): (0.30, 0.55), ("knee", "foot"): (0.30, 0.55),
              ("shoulder", "elbow"): (0.20, 0.40), ("elbow", "wrist"): (0.18, 0.35)}
    for (a, b), (low, high) in ranges.items():
        left, right = length(f"left_{a}", f"left_{b}"), length(f"right_{a}", f"right_{b}")
        assert np.all((low <= left) & (left <= high)), (a, b, left)
        np.testing.assert_allclose(left, right, rtol=1e-9)
    for joint, (low, high) in {"hip": (0.18, 0.35), "shoulder": (0.22, 0.45)}.items():
        width = length(f"left_{joint}", f"right_{joint}")
        assert np.all((low <= width) & (width <= high)), (joint, width)
    np.testing.assert_allclose(length("root", "left_hip"), length("root", "right_hip"), rtol=1e-9)


def test_outside_keypoints_have_v0_and_zero_coordinates(dataset):
    out, _ = dataset
    data = np.load(out / "h36m" / "annotations.npz")
    anns = _all_annotations(out)
    mapping = skeletons.joint_mapping("coco", "h36m")
    for row, part in enumerate(data["part"]):
        kp = np.reshape(anns[row + 1]["keypoints"], (17, 3))
        assert np.all(kp[kp[:, 2] == 0, :2] == 0)
        for h36m_joint, coco_joint in enumerate(mapping):
            if coco_joint >= 0:
                x, y = part[h36m_joint, :2]
                inside = -0.5 <= x < SIZE[1] - 0.5 and -0.5 <= y < SIZE[0] - 0.5
                assert (kp[coco_joint, 2] > 0) == inside


# --- scenes posed by hand ---------------------------------------------------------------------


def _posed_scene(yaw, root_x=0.0, arms_forward=False):
    """A 1.75 m person, straight limbs, arms slightly out (or raised forward), seen by a level pinhole camera."""
    angles = poses.sample_angles(np.random.default_rng(0), "Posing")
    angles = {name: 0.0 for name in angles}
    angles["yaw"] = yaw
    for side in ("left", "right"):
        angles[f"{side}_shoulder_abd"] = 20.0
        angles[f"{side}_shoulder_flex"] = 90.0 if arms_forward else 0.0
    height = 1.75
    lengths = {name: fraction * height for name, fraction in synthetic.BONE_FRACTIONS.items()}
    points, frames = poses.pose_body(height, lengths, angles)
    # Camera looking along world +y, world z up: columns right, down, forward.
    R = np.stack([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]], axis=1)
    camera = {"R": R, "T": np.zeros(3), "f": np.array([200.0, 200.0]), "c": np.array([47.5, 47.5]),
              "k": np.zeros(3), "p": np.zeros(2), "w": 96, "h": 96, "name": "camera1", "id": "54138969"}
    root = np.array([root_x, -0.1, 4.5])
    colours = {"skin": (200, 150, 120), "hair": (40, 30, 20), "shirt": (200, 40, 40), "stripe": (200, 40, 40),
               "sleeve": (200, 40, 40), "pants": (40, 40, 200), "shin": (40, 40, 200), "shoes": (20, 20, 20),
               "marker": (255, 255, 0)}
    return synthetic.Scene(
        image_size=SIZE, camera=camera, points={n: root + R.T @ p for n, p in points.items()},
        frames={n: R.T @ m for n, m in frames.items()}, height_m=height, build=1.0, colours=colours,
        occluders=[], style_seed=0, blur_sigma=0.0, noise_sigma=0.0,
    )


def _visibility(scene):
    out = synthetic.render_scene(scene)
    return out, dict(zip(synthetic.KEYPOINT_NAMES, out["visibility"].tolist()))


def test_front_back_and_side_views_mark_hidden_joints():
    _, front = _visibility(_posed_scene(yaw=180))  # faces the camera
    assert set(front.values()) == {2}, front
    _, back = _visibility(_posed_scene(yaw=0))
    turned_away = {"neck_base", "left_eye", "right_eye"}  # H36M joint 9 is the nose
    assert {n for n, v in back.items() if v == 1} == turned_away, back
    # The right side faces away; arms raised forward so that they do not hide the near hip.
    # (The far arm, above the camera, peeks out below the near one: perspective.)
    _, side = _visibility(_posed_scene(yaw=90, arms_forward=True))
    for part in ("hip", "knee", "foot", "shoulder", "eye", "ear"):
        assert side[f"left_{part}"] == 2 and side[f"right_{part}"] == 1, (part, side)
    assert side["head"] == 2 and side["neck_base"] == 2


def test_an_occluder_over_a_joint_marks_it_occluded():
    scene = _posed_scene(yaw=180)
    before = synthetic.render_scene(scene)
    j = synthetic.KEYPOINT_NAMES.index("left_knee")
    x, y = before["keypoints"][j]
    assert before["visibility"][j] == 2
    scene.occluders = [(np.array([[x - 3, y - 3], [x + 3, y - 3], [x + 3, y + 3], [x - 3, y + 3]]), (0, 255, 0))]
    after = synthetic.render_scene(scene)
    assert after["visibility"][j] == 1
    assert tuple(after["image"][int(round(y)), int(round(x))]) == (0, 255, 0)
    far = np.abs(before["keypoints"] - [x, y]).max(axis=1) > 5
    np.testing.assert_array_equal(after["visibility"][far], before["visibility"][far])
    assert after["person_mask"].sum() < before["person_mask"].sum()


def test_keypoints_outside_the_image_get_v0():
    scene = _posed_scene(yaw=180, root_x=-1.2)  # about half of the body left of the image
    out = synthetic.render_scene(scene)
    x, y = out["keypoints"].T
    expected_inside = (x >= -0.5) & (x < SIZE[1] - 0.5) & (y >= -0.5) & (y < SIZE[0] - 0.5)
    assert 0 < expected_inside.sum() < len(x)
    np.testing.assert_array_equal(out["visibility"] > 0, expected_inside)


def test_markers_are_drawn_at_the_subpixel_keypoints():
    # Render twice with two marker colours: the difference image is the markers' coverage.
    cameras = synthetic.make_cameras(0, SIZE)
    checked, errors = 0, []
    for i in range(6):
        scene = synthetic.sample_scene(np.random.default_rng(i), cameras["S1_54138969"], "Directions")
        scene.blur_sigma, scene.noise_sigma, scene.occluders = 0.0, 0.0, []
        scene.colours["marker"] = (0, 0, 0)
        dark = synthetic.render_scene(scene)
        scene.colours["marker"] = (255, 255, 255)
        bright = synthetic.render_scene(scene)
        coverage = (bright["image"].astype(float) - dark["image"]).mean(axis=-1)
        points = dark["keypoints"]
        for j, (x, y) in enumerate(points):
            others = np.delete(points, j, axis=0)
            if dark["visibility"][j] != 2 or np.abs(others - [x, y]).max(axis=1).min() < 6:
                continue
            col, row = int(round(x)), int(round(y))
            if not (4 <= col < SIZE[1] - 4 and 4 <= row < SIZE[0] - 4):
                continue
            window = coverage[row - 3 : row + 4, col - 3 : col + 4]
            yy, xx = np.mgrid[row - 3 : row + 4, col - 3 : col + 4]
            centroid = np.array([(window * xx).sum(), (window * yy).sum()]) / window.sum()
            errors.append(np.abs(centroid - [x, y]).max())
            checked += 1
    assert checked >= 10
    # Whole-pixel rounding would give errors spread over [0, 0.5] px (median about 0.35);
    # a few markers are partly covered at their rim by nearer parts, which moves the centroid.
    assert np.median(errors) < 0.08 and np.percentile(errors, 90) < 0.2, errors


def test_the_real_loaders_read_the_output(dataset):
    out, _ = dataset
    anns = _all_annotations(out)
    records = coco_loader.load_records(out / "coco" / "annotations" / "person_keypoints_train.json",
                                       out / "coco" / "images")
    assert len(records) == NUM - 1
    for record in records:
        kp = np.reshape(anns[record.image_id]["keypoints"], (17, 3))
        np.testing.assert_allclose(record.keypoints, kp[:, :2], atol=1e-4)
        np.testing.assert_array_equal(record.weights[:, 0], kp[:, 2] > 0)
        assert os.path.isfile(record.image_path)

    data = np.load(out / "h36m" / "annotations.npz")
    subjects = np.array([str(n).split("/")[0] for n in data["imgname"]])
    test = h36m_loader.load_records(out / "h36m" / "annotations.npz", out / "h36m" / "images",
                                    out / "h36m" / "cameras.json", protocol=2, split="test")
    expected_rows = np.flatnonzero(np.isin(subjects, ["S9", "S11"]))
    assert [r.image_id for r in test] == expected_rows.tolist()  # every-64th-frame keeps all
    for record in test:
        S = data["S"][record.image_id]
        np.testing.assert_allclose(record.keypoints[:, :2], data["part"][record.image_id, :, :2], atol=1e-3)
        np.testing.assert_allclose(record.keypoints[:, 2], (S[:, 2] - S[0, 2]) * 1000, atol=1e-2)
        assert os.path.isfile(record.image_path)


def _largest_step_away_from_the_person(rendered, margin_px=3):
    """The largest difference between neighbouring pixels (any channel) farther than `margin_px` from the person."""
    size = 2 * margin_px + 1
    away = cv2.dilate(rendered["person_mask"].astype(np.uint8), np.ones((size, size), np.uint8)) == 0
    image = rendered["image"].astype(np.int64)
    dx = np.abs(np.diff(image, axis=1)).max(axis=-1)[away[:, 1:] & away[:, :-1]]
    dy = np.abs(np.diff(image, axis=0)).max(axis=-1)[away[1:] & away[:-1]]
    return max(dx.max(), dy.max())


def test_easy_scenes_have_no_occluders_blur_noise_or_background_shapes():
    cameras = synthetic.make_cameras(0, SIZE)
    for i in range(8):
        scenes = {level: synthetic.sample_scene(np.random.default_rng(i), cameras["S5_55011271"], "Posing", level)
                  for level in synthetic.LEVELS}
        easy = scenes["easy"]
        assert easy.occluders == [] and easy.blur_sigma == 0.0 and easy.noise_sigma == 0.0
        # The smooth gradient and blotches change by a few levels per pixel; any clutter
        # shape, look-alike limb or marker-like dot has an edge of tens of levels.
        assert _largest_step_away_from_the_person(synthetic.render_scene(easy)) <= 16, i
        assert _largest_step_away_from_the_person(synthetic.render_scene(scenes["hard"])) > 40, i


def test_every_level_shows_the_same_person():
    cameras = synthetic.make_cameras(0, SIZE)
    for i in range(4):
        easy = synthetic.sample_scene(np.random.default_rng(i), cameras["S1_54138969"], "Walking", "easy")
        hard = synthetic.sample_scene(np.random.default_rng(i), cameras["S1_54138969"], "Walking", "hard")
        hard.blur_sigma, hard.noise_sigma, hard.occluders = 0.0, 0.0, []  # what the easy level leaves out
        a, b = synthetic.render_scene(easy), synthetic.render_scene(hard)
        np.testing.assert_array_equal(a["person_mask"], b["person_mask"])
        # Inside the person's outline (its anti-aliased rim blends with the background).
        inside = cv2.erode(a["person_mask"].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert inside.sum() > 100
        np.testing.assert_array_equal(a["image"][inside], b["image"][inside])
        np.testing.assert_array_equal(a["keypoints"], b["keypoints"])
        assert not np.array_equal(a["image"], b["image"])  # the backgrounds differ


def test_each_level_is_deterministic_and_the_loaders_read_it(tmp_path):
    keypoints = {}
    for level in synthetic.LEVELS:
        synthetic.generate(tmp_path / level, NUM, seed=3, image_size=SIZE, level=level, verbose=0)
        synthetic.generate(tmp_path / f"{level}_again", NUM, seed=3, image_size=SIZE, level=level, verbose=0)
        assert _files(tmp_path / level) == _files(tmp_path / f"{level}_again")
        train = tmp_path / level / "coco" / "annotations" / "person_keypoints_train.json"
        assert json.loads(train.read_text())["info"]["level"] == level
        assert f'level="{level}"' in (tmp_path / level / "README.md").read_text()
        records = coco_loader.load_records(train, tmp_path / level / "coco" / "images")
        assert len(records) == NUM - 1 and all(os.path.isfile(r.image_path) for r in records)
        h36m_dir = tmp_path / level / "h36m"
        test = h36m_loader.load_records(h36m_dir / "annotations.npz", h36m_dir / "images",
                                        tmp_path / level / "h36m" / "cameras.json", protocol=2, split="test")
        assert len(test) > 0 and all(os.path.isfile(r.image_path) for r in test)
        keypoints[level] = [(r.keypoints, r.weights[:, 0] > 0) for r in records]
    easy_files, hard_files = _files(tmp_path / "easy"), _files(tmp_path / "hard")
    assert all(easy_files[n] != hard_files[n] for n in easy_files if n.startswith("coco/images/"))
    for (easy_kp, easy_seen), (hard_kp, hard_seen) in zip(keypoints["easy"], keypoints["hard"]):
        both = easy_seen & hard_seen  # an occluder can only hide joints, never move them
        assert both.sum() >= 8 and not np.any(hard_seen & ~easy_seen)
        np.testing.assert_allclose(easy_kp[both], hard_kp[both], atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num": 0}, "num"),
        ({"num": 2, "seed": -1}, "seed"),
        ({"num": 2, "image_size": (16, 96)}, "image_size"),
        ({"num": 2, "val_fraction": 1.0}, "val_fraction"),
        ({"num": 2, "jpeg_quality": 0}, "jpeg_quality"),
        ({"num": 2, "level": "extreme"}, "level"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic.generate(tmp_path, verbose=0, **kwargs)

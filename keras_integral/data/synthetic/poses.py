"""The synthetic body: keypoints, proportions, joint limits, pose families and forward kinematics.

A pose is a dict of joint angles in degrees (`sample_angles`); `pose_body`
turns it, with a stature and bone lengths, into world-oriented points (root
at the origin, z up) and the rotation of each body segment.
"""

import numpy as np

from keras_integral import skeletons

# Pose families, named after the Human3.6M actions they resemble, and how often each is drawn.
ACTIONS = ("Directions", "Walking", "Sitting", "SittingDown", "Greeting", "Posing")
ACTION_WEIGHTS = (0.2, 0.2, 0.1, 0.1, 0.1, 0.3)

_H36M = skeletons.get("h36m")
_COCO = skeletons.get("coco")
# The rendered keypoints: the 17 H36M joints, then the face points COCO adds.
# H36M joint 9 (`neck_base`, Human3.6M's "Neck/Nose") is the nose tip, the
# point `skeletons.joint_mapping("coco", "h36m")` reads from COCO's nose.
KEYPOINT_NAMES = _H36M.joint_names + ("left_eye", "right_eye", "left_ear", "right_ear")
_COCO_RENAMED = {"nose": "neck_base", "left_ankle": "left_foot", "right_ankle": "right_foot"}
COCO_FROM_KEYPOINTS = tuple(KEYPOINT_NAMES.index(_COCO_RENAMED.get(n, n)) for n in _COCO.joint_names)

# Segment lengths as fractions of stature, roughly after Drillis & Contini's
# proportions (Winter, "Biomechanics and Motor Control of Human Movement"),
# moved to joint centres; each person scales each one by up to +-8%.
BONE_FRACTIONS = {
    "shin": 0.246,  # knee -> ankle (H36M "foot")
    "thigh": 0.245,  # hip -> knee
    "hip_half_width": 0.075,  # root -> hip joint
    "lumbar": 0.14,  # root -> spine
    "chest": 0.16,  # spine -> thorax (sternal notch, 0.83 of stature)
    "shoulder_half_width": 0.09,
    "upper_arm": 0.172,
    "forearm": 0.146,
    "hand": 0.085,
    "foot": 0.13,
}
# Head geometry in the head frame (x right, y forward, z up), fractions of stature.
_HEAD_CENTRE = (0.0, -0.005, 0.105)  # from the thorax; the crown ends at 1.0 of stature
HEAD_RADII = (0.047, 0.058, 0.066)
_FACE_OFFSETS = {  # from the head centre
    "neck_base": (0.0, 0.066, -0.018),
    "right_eye": (0.017, 0.05, 0.0),
    "left_eye": (-0.017, 0.05, 0.0),
    "right_ear": (0.047, -0.005, -0.002),
    "left_ear": (-0.047, -0.005, -0.002),
    "head": (0.0, 0.0, 0.045),
}

# Joint angles in degrees: the anatomical limits, and narrower ranges per pose family.
# Flexion moves a limb forward (knee: the shin backward), abduction outward,
# rotation is internal rotation; spine and neck flexion bend forward.
_LIMITS = {
    "pitch": (-10, 10), "roll": (-8, 8),
    "lumbar_flex": (-15, 45), "lumbar_lat": (-15, 15), "lumbar_twist": (-20, 20),
    "chest_flex": (-10, 25), "chest_lat": (-10, 10), "chest_twist": (-20, 20),
    "neck_flex": (-35, 45), "neck_lat": (-25, 25), "neck_twist": (-60, 60),
    "hip_flex": (-20, 110), "hip_abd": (-10, 45), "hip_rot": (-30, 40),
    "knee_flex": (0, 140), "ankle_flex": (-20, 35),
    "shoulder_flex": (-40, 160), "shoulder_abd": (-10, 150), "shoulder_rot": (-60, 80),
    "elbow_flex": (0, 145), "wrist_flex": (-50, 50),
}
_STANDING = {"hip_flex": (-8, 20), "hip_abd": (-3, 15), "knee_flex": (0, 25), "lumbar_flex": (-8, 15), "pitch": (-5, 5)}
_FAMILIES = {
    "Directions": {**_STANDING, "shoulder_flex": (-20, 110), "shoulder_abd": (0, 70), "elbow_flex": (0, 100)},
    "Walking": {**_STANDING, "elbow_flex": (5, 50), "shoulder_abd": (0, 15)},
    "Sitting": {
        "hip_flex": (70, 105), "hip_abd": (0, 25), "knee_flex": (60, 110), "lumbar_flex": (-5, 25),
        "shoulder_flex": (-10, 60), "shoulder_abd": (0, 30), "elbow_flex": (20, 110),
    },
    "SittingDown": {
        "hip_flex": (80, 110), "hip_abd": (5, 40), "knee_flex": (100, 140), "lumbar_flex": (10, 45),
        "ankle_flex": (10, 35), "shoulder_flex": (0, 90), "elbow_flex": (10, 120),
    },
    "Greeting": {**_STANDING, "shoulder_flex": (-20, 40), "shoulder_abd": (0, 30), "elbow_flex": (0, 60)},
    "Posing": {},
}
SIDES = (("right", 1.0), ("left", -1.0))  # body frame: x right, y forward, z up
_PER_SIDE = ("hip_flex", "hip_abd", "hip_rot", "knee_flex", "ankle_flex",
             "shoulder_flex", "shoulder_abd", "shoulder_rot", "elbow_flex", "wrist_flex")


def _rx(degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def _ry(degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


def _rz(degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def sample_angles(rng, action):
    """Joint angles (degrees) of one pose of the family `action`, one of `ACTIONS`."""
    ranges = {**_LIMITS, **_FAMILIES[action]}
    angles = {"yaw": rng.uniform(0, 360)}
    for name, (low, high) in ranges.items():
        if name in _PER_SIDE:
            for side, _ in SIDES:
                angles[f"{side}_{name}"] = rng.uniform(low, high)
        else:
            angles[name] = rng.uniform(low, high)
    if action == "Walking":  # a gait phase: legs swing in opposition, arms against the legs
        swing, phase = rng.uniform(15, 35), rng.uniform(0, 2 * np.pi)
        for side, sign in SIDES:
            s = sign * np.sin(phase)
            angles[f"{side}_hip_flex"] = 5 + swing * s + rng.normal(0, 3)
            angles[f"{side}_knee_flex"] = 10 + 40 * max(0.0, -s) + rng.uniform(0, 10)
            angles[f"{side}_shoulder_flex"] = -0.8 * swing * s + rng.normal(0, 5)
    elif action == "Greeting":  # one arm raised, elbow bent
        side = SIDES[rng.integers(2)][0]
        angles[f"{side}_shoulder_flex"] = rng.uniform(60, 160)
        angles[f"{side}_shoulder_abd"] = rng.uniform(0, 90)
        angles[f"{side}_elbow_flex"] = rng.uniform(20, 130)
    for side, _ in SIDES:
        # A raised arm cannot also swing far sideways without passing through the head.
        flex = angles[f"{side}_shoulder_flex"]
        angles[f"{side}_shoulder_abd"] = min(angles[f"{side}_shoulder_abd"], max(20.0, 170.0 - flex))
    return angles


def pose_body(height_m, lengths, angles):
    """Forward kinematics: world-oriented points (root at 0) and segment frames.

    Args:
        height_m: stature in metres.
        lengths: name of `BONE_FRACTIONS` -> length in metres.
        angles: joint angles in degrees, as from `sample_angles`.

    Returns:
        `(points, frames)`: name -> `(3,)` point in metres (the names of
        `KEYPOINT_NAMES` plus `head_centre`, `head_base`, `{left,right}_toe`,
        `{left,right}_hand`), and `pelvis`, `lumbar`, `chest`, `head` ->
        `(3, 3)` rotation (columns: the segment's right, forward, up axes).
    """
    H = height_m
    pelvis = _rz(angles["yaw"]) @ _rx(angles["pitch"]) @ _ry(angles["roll"])
    lumbar = pelvis @ _rx(-angles["lumbar_flex"]) @ _ry(angles["lumbar_lat"]) @ _rz(angles["lumbar_twist"])
    chest = lumbar @ _rx(-angles["chest_flex"]) @ _ry(angles["chest_lat"]) @ _rz(angles["chest_twist"])
    head = chest @ _rx(-angles["neck_flex"]) @ _ry(angles["neck_lat"]) @ _rz(angles["neck_twist"])
    p = {"root": np.zeros(3)}
    p["spine"] = lumbar @ [0, 0, lengths["lumbar"]]
    p["thorax"] = p["spine"] + chest @ [0, 0, lengths["chest"]]
    p["head_centre"] = p["thorax"] + head @ (np.array(_HEAD_CENTRE) * H)
    p["head_base"] = p["head_centre"] + head @ (np.array([0.0, -0.01, -0.045]) * H)
    for name, offset in _FACE_OFFSETS.items():
        p[name] = p["head_centre"] + head @ (np.array(offset) * H)
    for side, sign in SIDES:
        a = {name: angles[f"{side}_{name}"] for name in _PER_SIDE}
        # Mirror abduction and rotation so equal angles mean the same motion on both sides.
        thigh = pelvis @ _rx(a["hip_flex"]) @ _ry(-sign * a["hip_abd"]) @ _rz(sign * a["hip_rot"])
        shin = thigh @ _rx(-a["knee_flex"])
        foot = shin @ _rx(a["ankle_flex"])
        p[f"{side}_hip"] = pelvis @ [sign * lengths["hip_half_width"], 0, 0]
        p[f"{side}_knee"] = p[f"{side}_hip"] + thigh @ [0, 0, -lengths["thigh"]]
        p[f"{side}_foot"] = p[f"{side}_knee"] + shin @ [0, 0, -lengths["shin"]]
        p[f"{side}_toe"] = p[f"{side}_foot"] + foot @ [0, lengths["foot"], -0.25 * lengths["foot"]]
        upper = chest @ _rx(a["shoulder_flex"]) @ _ry(-sign * a["shoulder_abd"]) @ _rz(sign * a["shoulder_rot"])
        fore = upper @ _rx(a["elbow_flex"])
        hand = fore @ _rx(a["wrist_flex"])
        p[f"{side}_shoulder"] = p["thorax"] + chest @ [sign * lengths["shoulder_half_width"], -0.01 * H, -0.045 * H]
        p[f"{side}_elbow"] = p[f"{side}_shoulder"] + upper @ [0, 0, -lengths["upper_arm"]]
        p[f"{side}_wrist"] = p[f"{side}_elbow"] + fore @ [0, 0, -lengths["forearm"]]
        p[f"{side}_hand"] = p[f"{side}_wrist"] + hand @ [0, 0, -lengths["hand"]]
    return p, {"pelvis": pelvis, "lumbar": lumbar, "chest": chest, "head": head}

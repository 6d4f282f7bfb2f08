"""Joint sets: COCO-17, MPII-16, Human3.6M-17 and the authors' 18-joint H36M.

A `Skeleton` is plain data: joint names, left/right flip pairs, limbs for
drawing, the root joint, COCO OKS sigmas where defined. Joint orders follow
the data sets' own files (see `../shared/data/samples/README.md`) and the
authors' code (`reference/authors-code.md`, section 3).

Example:

>>> from keras_integral import skeletons
>>> coco = skeletons.get("coco")
>>> coco.num_joints, coco.joint_names[5]
(17, 'left_shoulder')
>>> int(coco.flip_index[5])     # left_shoulder <-> right_shoulder
6
>>> idx = skeletons.joint_mapping("mpii", "h36m")  # H36M index -> MPII index or -1
>>> int(idx[0])                  # H36M root <- MPII pelvis
6
"""

import dataclasses

import numpy as np

SKELETON_NAMES = ("coco", "mpii", "h36m", "h36m18")


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """A joint set.

    Args:
        name: short name (`"coco"`, `"mpii"`, `"h36m"`, `"h36m18"`).
        joint_names: tuple of joint names, in the data set's order.
        flip_pairs: tuple of `(left, right)` index pairs swapped by a
            horizontal flip.
        limbs: tuple of `(a, b)` index pairs drawn as bones.
        root: index of the root joint for root-relative depth, or `None`
            where the set has no pelvis (COCO).
        oks_sigmas: per-joint COCO OKS sigmas, or `None`.
    """

    name: str
    joint_names: tuple
    flip_pairs: tuple
    limbs: tuple
    root: int | None = None
    oks_sigmas: tuple | None = None

    @property
    def num_joints(self):
        return len(self.joint_names)

    @property
    def flip_index(self):
        """`(joints,)` int array: joint `i` of a flipped image is `flip_index[i]`."""
        index = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            index[a], index[b] = b, a
        return index

    def limb_side(self, limb):
        """`"left"`, `"right"` or `"centre"`: the colour group of a limb when drawn."""
        names = [self.joint_names[j] for j in limb]
        if any(n.startswith("left") for n in names):
            return "left"
        if any(n.startswith("right") for n in names):
            return "right"
        return "centre"


COCO = Skeleton(
    name="coco",
    joint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    # categories[0].skeleton of person_keypoints_*.json, made 0-based.
    limbs=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12),
        (5, 6), (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2),
        (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    root=None,
    # pycocotools COCOeval.Params.kpt_oks_sigmas.
    oks_sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
        0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
    ),
)

MPII = Skeleton(
    name="mpii",
    joint_names=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee",
        "left_ankle", "pelvis", "thorax", "upper_neck", "head_top",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
        "left_elbow", "left_wrist",
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    limbs=(
        (0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8),
        (8, 9), (10, 11), (11, 12), (12, 7), (13, 7), (13, 14), (14, 15),
    ),
    root=6,
)

_H36M_NAMES = (
    "root", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee",
    "left_foot", "spine", "thorax", "neck_base", "head", "left_shoulder",
    "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)
_H36M_FLIP = ((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16))

H36M = Skeleton(
    name="h36m",
    joint_names=_H36M_NAMES,
    flip_pairs=_H36M_FLIP,
    limbs=(
        (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8),
        (8, 9), (9, 10), (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
    ),
    root=0,
)

# The authors' 18-joint set: H36M-17 plus a thorax (mean of the shoulders) at
# index 17; limbs from their parent ids [0,0,1,2,0,4,5,0,17,17,8,17,11,12,17,14,15,0].
H36M18 = Skeleton(
    name="h36m18",
    joint_names=_H36M_NAMES + ("shoulder_centre",),
    flip_pairs=_H36M_FLIP,
    limbs=(
        (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (17, 8),
        (17, 9), (8, 10), (17, 11), (11, 12), (12, 13), (17, 14), (14, 15),
        (15, 16), (0, 17),
    ),
    root=0,
)

_SKELETONS = {s.name: s for s in (COCO, MPII, H36M, H36M18)}

# For each joint of the destination set, the source joint it is read from, or
# -1 (unmapped: weight 0). From the authors' code (section 3 of authors-code.md).
_MAPPINGS = {
    ("mpii", "h36m18"): (6, 2, 1, 0, 3, 4, 5, -1, 8, -1, 9, 13, 14, 15, 12, 11, 10, 7),
    ("coco", "h36m18"): (-1, 12, 14, 16, 11, 13, 15, -1, -1, 0, -1, 5, 7, 9, 6, 8, 10, -1),
}
_MAPPINGS[("mpii", "h36m")] = _MAPPINGS[("mpii", "h36m18")][:17]
_MAPPINGS[("coco", "h36m")] = _MAPPINGS[("coco", "h36m18")][:17]
_MAPPINGS[("h36m", "h36m18")] = tuple(range(17)) + (-1,)
_MAPPINGS[("h36m18", "h36m")] = tuple(range(17))


def get(skeleton):
    """Returns the `Skeleton` named `skeleton` (or `skeleton` itself if it is one).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(skeleton, Skeleton):
        return skeleton
    if skeleton not in _SKELETONS:
        raise ValueError(
            f"Unknown skeleton {skeleton!r}; expected one of {sorted(_SKELETONS)}."
        )
    return _SKELETONS[skeleton]


def joint_mapping(source, target):
    """Index array `(target joints,)`: the source joint for each target joint, or -1.

    Raises:
        ValueError: if there is no mapping between the two sets.
    """
    source, target = get(source), get(target)
    if source.name == target.name:
        return np.arange(source.num_joints)
    key = (source.name, target.name)
    if key not in _MAPPINGS:
        known = ", ".join(f"{a}->{b}" for a, b in sorted(_MAPPINGS))
        raise ValueError(f"No joint mapping from {source.name!r} to {target.name!r}; known: {known}.")
    return np.asarray(_MAPPINGS[key])


def map_keypoints(keypoints, weights, source, target):
    """Re-orders keypoints and weights from `source` joints to `target` joints.

    Unmapped target joints get coordinates 0 and weight 0. When the target has
    more coordinates than the source (2D MPII into a 3D set), pad the inputs
    first; this function keeps the coordinate axis as it is.

    Args:
        keypoints: `(..., source joints, c)` array.
        weights: `(..., source joints, c)` array.
        source, target: skeleton names or `Skeleton`s.

    Returns:
        `(keypoints, weights)`, each `(..., target joints, c)`.
    """
    index = joint_mapping(source, target)
    keypoints, weights = np.asarray(keypoints), np.asarray(weights)
    n = get(source).num_joints
    if keypoints.shape[-2] != n or weights.shape[-2] != n:
        raise ValueError(
            f"Expected {n} {get(source).name} joints on axis -2, got keypoints "
            f"{keypoints.shape} and weights {weights.shape}."
        )
    mapped = (index >= 0)[:, None]
    safe = np.maximum(index, 0)
    return (
        np.where(mapped, np.take(keypoints, safe, axis=-2), 0).astype(keypoints.dtype),
        np.where(mapped, np.take(weights, safe, axis=-2), 0).astype(weights.dtype),
    )

"""Drawing a `Scene`: the person as shaded capsules and hulls painted back to front, and its keypoints' visibility.

Limbs are tapered capsules, torso and head projected convex hulls, a small
disc marks every keypoint; a keypoint is visible when its own marker (or
nothing nearer than its surface) was drawn last at its pixel.
"""

import cv2
import numpy as np

from keras_integral.data.cameras import project_points
from keras_integral.data.synthetic.background import draw_background
from keras_integral.data.synthetic.canvas import Canvas
from keras_integral.data.synthetic.levels import difficulty_of
from keras_integral.data.synthetic.poses import HEAD_RADII
from keras_integral.data.synthetic.poses import KEYPOINT_NAMES
from keras_integral.data.synthetic.poses import SIDES

_FACE_POINTS = ("neck_base", "left_eye", "right_eye", "left_ear", "right_ear")
# Where each face point's surface faces (head frame) and the least cosine with
# the direction to the camera for it to count as visible: the nose and ears
# stay visible a little past the profile view, as COCO labels them.
_FACE_NORMALS = {
    "neck_base": ((0.0, 1.0, 0.0), -0.2),
    "right_eye": ((0.35, 1.0, 0.0), 0.1),
    "left_eye": ((-0.35, 1.0, 0.0), 0.1),
    "right_ear": ((1.0, 0.0, 0.0), -0.35),
    "left_ear": ((-1.0, 0.0, 0.0), -0.35),
}
# Capsule radii (start, end) as fractions of stature, times the person's build.
_LIMB_RADII = {
    "thigh": (0.05, 0.036),
    "shin": (0.034, 0.024),
    "foot": (0.022, 0.016),
    "upper_arm": (0.03, 0.024),
    "forearm": (0.024, 0.018),
    "hand": (0.019, 0.013),
    "neck": (0.028, 0.028),
}
# Depth of each keypoint's visible surface in front of the point (fraction of
# stature): the keypoint is hidden when something nearer than that is drawn.
_SURFACE_DEPTH = {
    "root": 0.065, "spine": 0.06, "thorax": 0.055, "head": 0.045,
    "hip": 0.05, "knee": 0.036, "foot": 0.024, "shoulder": 0.03, "elbow": 0.024, "wrist": 0.018,
}
_LIMB_PIECES = 3  # per limb, each with its own depth, so a limb can pass in front of itself

_BACKGROUND_KEY = np.inf  # a pixel nothing was drawn on: farther than any marker


def _fibonacci_sphere(n):
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


_SPHERE = _fibonacci_sphere(48)
_RING = np.stack([np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False)),
                  np.sin(np.linspace(0, 2 * np.pi, 12, endpoint=False))], axis=1)


def render_scene(scene):
    """Draws a `Scene` and measures where each keypoint lands and whether it is seen.

    Args:
        scene: a `Scene`.

    Returns:
        dict with `image` `(height, width, 3)` uint8 RGB; `keypoints`
        `(21, 2)` float64 distorted projections `(x, y)` in pixels, in the
        order of `KEYPOINT_NAMES`; `visibility` `(21,)` int: 0 outside the
        image, 1 occluded, 2 visible; `person_mask` `(height, width)` bool:
        pixels where the person is seen (not covered by an occluder).

    Example:

    >>> camera = make_cameras(0, (96, 96))["S1_54138969"]
    >>> out = render_scene(sample_scene(np.random.default_rng(0), camera))
    >>> out["image"].shape, out["keypoints"].shape
    ((96, 96, 3), (21, 2))
    """
    image, (person,) = render_people([scene])
    return {"image": image, **person}


def render_people(scenes):
    """Draws several people before one camera: the first scene's background, style, occluders, blur and noise.

    Every body part of every person is painted back to front by depth, so
    people occlude each other; each person's visibility is measured against
    everything drawn. `render_scene` is this with one scene.

    Args:
        scenes: list of `Scene`s with the same `image_size` (and camera).

    Returns:
        `(image (height, width, 3) uint8, people)`: per scene a dict with
        `keypoints` `(21, 2)`, `visibility` `(21,)` and `person_mask` as
        `render_scene` gives them.
    """
    scene = scenes[0]
    height, width = scene.image_size
    if any(tuple(s.image_size) != tuple(scene.image_size) for s in scenes):
        raise ValueError("render_people: all scenes must have the same image_size.")
    style = np.random.default_rng(scene.style_seed)
    image = draw_background(style, height, width, difficulty_of(scene.level))
    ids = np.full((height, width), -1, np.int32)  # which primitive was drawn last, per pixel
    light = style.normal(size=2)
    light /= np.linalg.norm(light)
    canvas = Canvas(image, ids, light)

    primitives, markers, owner = [], [], []
    for n, person in enumerate(scenes):
        person_primitives, person_markers = _body_primitives(person, style)
        primitives += person_primitives
        markers.append(person_markers)
        owner += [n] * len(person_primitives)
    # Painter's algorithm: farthest first; a keypoint's disc right after the body parts it sits on.
    order = sorted(range(len(primitives)), key=lambda i: -primitives[i][0])
    keys = np.array([primitives[i][0] for i in order] + [-np.inf] * len(scene.occluders))
    owners = np.array([owner[i] for i in order] + [-1] * len(scene.occluders))
    for new_id, i in enumerate(order):
        primitives[i][1](canvas, new_id)
    body_count = len(order)
    for n, (polygon, colour) in enumerate(scene.occluders):
        canvas.polygon(np.asarray(polygon), colour, body_count + n, shade=style.uniform(0.6, 0.9))

    people = []
    for n, person in enumerate(scenes):
        keypoints = project_points(np.stack([person.points[k] for k in KEYPOINT_NAMES]), person.camera)
        visibility = np.zeros(len(KEYPOINT_NAMES), np.int64)
        for j, (x, y) in enumerate(keypoints):
            col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
            if not (0 <= col < width and 0 <= row < height):
                continue
            drawn = ids[row, col]
            drawn_key = keys[drawn] if drawn >= 0 else _BACKGROUND_KEY
            visible = markers[n][j] is not None and drawn_key >= markers[n][j]
            visibility[j] = 2 if visible else 1
        mask = (ids >= 0) & (ids < body_count) & (owners[np.clip(ids, 0, None)] == n)
        people.append({"keypoints": keypoints, "visibility": visibility, "person_mask": mask})

    if scene.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), scene.blur_sigma)
    if scene.noise_sigma > 0:
        noise = style.standard_normal((height, width, 3), dtype=np.float32) * np.float32(scene.noise_sigma)
        image = np.clip(np.rint(image + noise), 0, 255)
    return image.astype(np.uint8), people


def _body_primitives(scene, style):
    """Drawing primitives `(depth key, draw(canvas, id))` and each keypoint's marker key.

    A primitive's key is the camera depth (metres) of its axis; a keypoint's
    marker sits on its visible surface, in front of the parts it belongs to.
    Returns the primitives and, per keypoint, the marker key (None for a face
    point turned away from the camera).
    """
    H, build, colours = scene.height_m, scene.build, scene.colours
    pts, frames, camera = scene.points, scene.frames, scene.camera
    names = list(pts)
    uv = dict(zip(names, project_points(np.stack([pts[n] for n in names]), camera)))
    f = float(np.mean(camera["f"]))
    primitives = []
    attached = {name: [] for name in KEYPOINT_NAMES}  # keys of the parts each keypoint sits on

    def pixels(metres, depth):
        return metres * f / depth

    def limb(a, b, kind, colour, joint_a=None, joint_b=None):
        r_a, r_b = (np.array(_LIMB_RADII[kind]) * H * build)
        for piece in range(_LIMB_PIECES):
            t0, t1 = piece / _LIMB_PIECES, (piece + 1) / _LIMB_PIECES
            q0, q1 = pts[a] + t0 * (pts[b] - pts[a]), pts[a] + t1 * (pts[b] - pts[a])
            (u0, u1) = project_points(np.stack([q0, q1]), camera)
            rad0, rad1 = pixels(r_a + t0 * (r_b - r_a), q0[2]), pixels(r_a + t1 * (r_b - r_a), q1[2])
            key = (q0[2] + q1[2]) / 2
            jitter = style.integers(-8, 9, 3)
            piece_colour = np.clip(np.asarray(colour) + jitter, 0, 255)
            caps = (piece == 0, piece == _LIMB_PIECES - 1)
            primitives.append((key, lambda c, i, u0=u0, u1=u1, r0=rad0, r1=rad1, col=piece_colour, caps=caps:
                               c.capsule(u0, u1, max(r0, 0.5), max(r1, 0.5), col, i, caps)))
            if piece == 0 and joint_a:
                attached[joint_a].append(key)
            if piece == _LIMB_PIECES - 1 and joint_b:
                attached[joint_b].append(key)

    for side, _ in SIDES:
        limb(f"{side}_hip", f"{side}_knee", "thigh", colours["pants"], f"{side}_hip", f"{side}_knee")
        limb(f"{side}_knee", f"{side}_foot", "shin", colours["shin"], f"{side}_knee", f"{side}_foot")
        limb(f"{side}_foot", f"{side}_toe", "foot", colours["shoes"], f"{side}_foot")
        limb(f"{side}_shoulder", f"{side}_elbow", "upper_arm", colours["shirt"], f"{side}_shoulder", f"{side}_elbow")
        limb(f"{side}_elbow", f"{side}_wrist", "forearm", colours["sleeve"], f"{side}_elbow", f"{side}_wrist")
        limb(f"{side}_wrist", f"{side}_hand", "hand", colours["skin"], f"{side}_wrist")
    limb("thorax", "head_base", "neck", colours["skin"], "thorax")

    # Torso: convex hulls of elliptic cross-sections (centre, frame, half width, half depth, height).
    hip_half = float(np.linalg.norm(pts["right_hip"] - pts["root"]))
    shoulder_half = float(np.linalg.norm(pts["right_shoulder"] - pts["thorax"]))
    sections = {
        "pelvis": (("root", "pelvis", hip_half + 0.045 * H, 0.065 * H, 0.0),
                   ("root", "pelvis", hip_half + 0.03 * H, 0.06 * H, -0.05 * H),
                   ("spine", "lumbar", 0.085 * H, 0.06 * H, 0.0)),
        "chest": (("spine", "lumbar", 0.085 * H, 0.06 * H, 0.0),
                  ("thorax", "chest", 0.1 * H, 0.07 * H, -0.08 * H),
                  ("thorax", "chest", shoulder_half + 0.02 * H, 0.055 * H, -0.04 * H),
                  ("thorax", "chest", 0.04 * H, 0.035 * H, 0.01 * H)),
    }
    stripes = None
    if not np.array_equal(colours["stripe"], colours["shirt"]):
        stripes = (np.asarray(colours["stripe"]).tolist(), style.uniform(3, 8), style.uniform(0, np.pi))
    for part, rings in sections.items():
        ring_points = np.concatenate([
            pts[centre] + (np.column_stack([_RING * [a * build, b * build], np.full(len(_RING), dz)])
                           @ frames[frame].T)
            for centre, frame, a, b, dz in rings
        ])
        hull = cv2.convexHull(project_points(ring_points, camera).astype(np.float32))[:, 0].astype(np.float64)
        key = float(ring_points[:, 2].mean())
        colour = colours["shirt"] if part == "chest" else colours["pants"]
        part_stripes = stripes if part == "chest" else None
        primitives.append((key, lambda c, i, hull=hull, col=colour, s=part_stripes: c.polygon(hull, col, i, stripes=s)))
        for joint in ("root", "spine") if part == "pelvis" else ("spine", "thorax"):
            attached[joint].append(key)

    # Head: a hair-coloured ellipsoid with a skin-coloured face on the side the nose points to.
    head_frame, centre = frames["head"], pts["head_centre"]
    surface = centre + (_SPHERE * np.array(HEAD_RADII) * H) @ head_frame.T
    head_hull = cv2.convexHull(project_points(surface, camera).astype(np.float32))[:, 0].astype(np.float64)
    head_key = float(centre[2])
    primitives.append((head_key, lambda c, i: c.polygon(head_hull, colours["hair"], i, shade=0.7)))
    attached["head"].append(head_key)
    # Unit-sphere directions whose ellipsoid normal is within ~65 degrees of the face direction.
    normals = _SPHERE / np.array(HEAD_RADII) ** 2
    face_dir = np.array([0.0, 1.0, -0.25]) / np.linalg.norm([0.0, 1.0, -0.25])
    cap = (normals / np.linalg.norm(normals, axis=1, keepdims=True)) @ face_dir > 0.42
    normals_cam = normals @ head_frame.T
    facing = np.einsum("ij,ij->i", normals_cam, surface) < 0  # normal points back toward the camera
    face_points = surface[cap & facing]
    if len(face_points) >= 3:
        face_hull = cv2.convexHull(project_points(face_points, camera).astype(np.float32))[:, 0]
        face_key = head_key - 1e-4
        primitives.append((face_key, lambda c, i: c.polygon(face_hull.astype(np.float64), colours["skin"], i)))
        for name in _FACE_POINTS:
            attached[name].append(face_key)

    # Keypoint markers: small discs on the visible surface, in front of the parts they sit on.
    markers = []
    for name in KEYPOINT_NAMES:
        point = pts[name]
        if name in _FACE_NORMALS:
            normal, least_cosine = _FACE_NORMALS[name]
            normal = head_frame @ (np.array(normal) / np.linalg.norm(normal))
            if normal @ (-point / np.linalg.norm(point)) < least_cosine:
                markers.append(None)
                continue
            surface_depth = 0.002 * H
        else:
            joint = name.split("_", 1)[-1] if name.startswith(("left_", "right_")) else name
            surface_depth = _SURFACE_DEPTH[joint] * build
        key = min([point[2] - surface_depth] + attached[name]) - 1e-4
        radius = max(0.9, pixels(0.009 * H, point[2]) * (0.7 if name in _FACE_NORMALS else 1.0))
        if name.endswith("_ear"):
            ear = max(1.2, pixels(0.014 * H, point[2]))
            primitives.append((key + 5e-5, lambda c, i, p=uv[name], r=ear: c.disc(p, r, colours["skin"], i)))
        primitives.append((key, lambda c, i, p=uv[name], r=radius: c.disc(p, r, colours["marker"], i)))
        markers.append(key)
    return primitives, markers

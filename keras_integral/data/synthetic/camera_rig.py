"""The synthetic set's cameras: one fixed camera per (subject, camera id), as in Human3.6M."""

import numpy as np

SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")


def make_cameras(seed, image_size):
    """Draws one camera per (subject, camera id), placed like Human3.6M's four.

    Cameras stand on a circle of radius 4 to 5.5 m around the capture area,
    one per quadrant, 0.5 to 3 m high, aimed at its centre (elevation about
    -5 to 25 degrees), focal length 1.5 to 1.9 image sizes, principal point
    near the image centre, distortion `k1` in [-0.25, 0.05], `k2` in
    [-0.05, 0.25], `|k3| <= 0.01`, `|p| <= 0.002` (monotonic over the view).

    Args:
        seed: int, the data set seed.
        image_size: `(height, width)` in pixels.

    Returns:
        dict `"S1_54138969"` -> camera dict as in `Scene.camera`.

    Example:

    >>> cameras = make_cameras(0, (256, 256))
    >>> sorted(cameras)[:2], cameras["S1_54138969"]["f"].shape
    (['S11_54138969', 'S11_55011271'], (2,))
    """
    rng = np.random.default_rng([seed, 0])
    height, width = image_size
    cameras = {}
    for subject in SUBJECTS:
        for index, camera_id in enumerate(CAMERA_IDS):
            azimuth = np.radians(45 + 90 * index + rng.uniform(-15, 15))
            radius, cam_height = rng.uniform(4.0, 5.5), rng.uniform(0.5, 3.0)
            centre = np.array([radius * np.cos(azimuth), radius * np.sin(azimuth), cam_height])
            target = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), rng.uniform(0.7, 1.1)])
            forward = (target - centre) / np.linalg.norm(target - centre)
            right = np.cross(forward, [0.0, 0.0, 1.0])
            right /= np.linalg.norm(right)
            down = np.cross(forward, right)
            roll = np.radians(rng.uniform(-3, 3))
            right, down = np.cos(roll) * right + np.sin(roll) * down, np.cos(roll) * down - np.sin(roll) * right
            focal = rng.uniform(1.5, 1.9) * max(height, width)
            cameras[f"{subject}_{camera_id}"] = {
                "R": np.stack([right, down, forward], axis=1),
                "T": centre,
                "f": np.array([focal, focal * (1 + rng.uniform(-0.005, 0.005))]),
                "c": np.array([(width - 1) / 2 + rng.uniform(-0.02, 0.02) * width,
                               (height - 1) / 2 + rng.uniform(-0.02, 0.02) * height]),
                "k": np.array([rng.uniform(-0.25, 0.05), rng.uniform(-0.05, 0.25), rng.uniform(-0.01, 0.01)]),
                "p": rng.uniform(-0.002, 0.002, size=2),
                "w": int(width),
                "h": int(height),
                "name": f"camera{index + 1}",
                "id": camera_id,
            }
    return cameras

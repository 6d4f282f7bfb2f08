"""Camera calibration files and the Human3.6M projection with lens distortion.

Conventions of the Human3.6M calibration (`cameras.json` / `cameras.pkl`,
checked on the shared samples to below 1e-6 m and 3e-5 px):

```
X_cam  = R.T @ (X_world - T)      # R: camera-to-world rotation, T: camera centre in world (metres)
x, y   = X/Z, Y/Z ;  r2 = x*x + y*y
radial = 1 + k1*r2 + k2*r2**2 + k3*r2**3
tan    = p1*y + p2*x
x_d    = x*(radial + tan) + p2*r2 ;  y_d = y*(radial + tan) + p1*r2
u, v   = f_x*x_d + c_x,  f_y*y_d + c_y
```

This is the original Human3.6M `ProjectPointRadial`. MMPose's
`SimpleCamera.camera_to_pixel` uses a different tangential term and differs by
up to ~0.2 px; a plain pinhole projection is off by up to ~2.5 px.

Example:

>>> import numpy as np
>>> camera = {"f": np.array([1000.0, 1000.0]), "c": np.array([500.0, 500.0]),
...           "k": np.zeros(3), "p": np.zeros(2)}
>>> project_points(np.array([[0.1, -0.2, 5.0]]), camera)
array([[520., 460.]])
"""

import os
import pickle

import numpy as np

from keras_integral.data.records import read_json

# Field -> number of values; `k` and `p` default to zeros (a pinhole camera),
# so calibrations without distortion terms load too.
_CAMERA_FIELDS = {"R": 9, "T": 3, "f": 2, "c": 2, "k": 3, "p": 2}
_OPTIONAL_FIELDS = ("k", "p")
_UNDISTORT_ITERATIONS = 20


def load_cameras(path):
    """Reads a camera calibration file into `{"S1_54138969": camera}`.

    Supports the Human3.6M layout of the samples: `cameras.json` (keys
    `"<subject>_<camera id>"`) and `cameras.pkl` (keys `(subject, camera id)`,
    joined here with `_`). The pickle is read with an unpickler that only
    admits NumPy arrays and plain Python values, so a hostile file cannot run
    code.

    Args:
        path: the `.json` or `.pkl` file.

    Returns:
        dict from `"<subject>_<camera id>"` to a camera dict with read-only
        float64 arrays `R` `(3, 3)` (camera-to-world rotation), `T` `(3,)`
        (camera centre in world coordinates, metres), `f` `(2,)` and `c`
        `(2,)` (pixels), `k` `(3,)` (radial) and `p` `(2,)` (tangential
        distortion); plus `w`, `h`, `name`, `id` when the file has them.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: for an unknown extension, or a camera with a missing or
            wrongly sized field (the message names the file and camera).

    Example:

    >>> cameras = load_cameras("../shared/data/samples/h36m/cameras.json")  # doctest: +SKIP
    >>> cameras["S1_54138969"]["f"]                                          # doctest: +SKIP
    array([1145.04940459, 1143.78109572])
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Camera file {path!r} does not exist.")
    extension = os.path.splitext(path)[1].lower()
    if extension == ".json":
        raw = read_json(path, "Camera file")
    elif extension == ".pkl":
        with open(path, "rb") as f:
            try:
                raw = load_numpy_pickle(f)
            except pickle.UnpicklingError as e:
                raise ValueError(f"Camera file {path!r}: {e}") from e
    else:
        raise ValueError(f"Camera file {path!r}: expected a .json or .pkl file, got {extension!r}.")
    if not isinstance(raw, dict):
        raise ValueError(
            f"Camera file {path!r}: expected a dict keyed by camera, got {type(raw).__name__}."
        )
    cameras = {}
    for key, value in raw.items():
        name = "_".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
        cameras[name] = _parse_camera(value, f"Camera file {path!r}, camera {name!r}")
    return cameras


def project_points(points_cam, camera):
    """Projects camera-space points to pixels with the Human3.6M distortion model.

    Formula (original Human3.6M `ProjectPointRadial`), with `x, y = X/Z, Y/Z`
    and `r2 = x^2 + y^2`:
    `x_d = x (1 + k1 r2 + k2 r2^2 + k3 r2^3 + p1 y + p2 x) + p2 r2`,
    `y_d = y (1 + k1 r2 + k2 r2^2 + k3 r2^3 + p1 y + p2 x) + p1 r2`,
    `u = f_x x_d + c_x`, `v = f_y y_d + c_y`.

    Args:
        points_cam: `(..., 3)` points in camera coordinates, any length unit
            (millimetres or metres: only the ratios X/Z, Y/Z matter), Z > 0.
        camera: dict with `f` `(2,)`, `c` `(2,)` in pixels and optionally `k`
            `(3,)`, `p` `(2,)` (missing = no distortion), as from
            `load_cameras`.

    Returns:
        `(..., 2)` float64 pixel coordinates `(u, v)`.

    Example:

    >>> camera = {"f": [2.0, 3.0], "c": [10.0, 20.0]}
    >>> project_points([[1.0, 2.0, 4.0]], camera)
    array([[10.5, 21.5]])
    """
    points = np.asarray(points_cam, np.float64)
    if points.shape[-1:] != (3,):
        raise ValueError(f"project_points: points_cam must have shape (..., 3), got {points.shape}.")
    f = _camera_vector(camera, "f", 2)
    c = _camera_vector(camera, "c", 2)
    k = _camera_vector(camera, "k", 3)
    p = _camera_vector(camera, "p", 2)
    xy = points[..., :2] / points[..., 2:3]
    r2 = np.sum(xy * xy, axis=-1, keepdims=True)
    radial = 1.0 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tangential = p[0] * xy[..., 1:2] + p[1] * xy[..., 0:1]
    # The H36M model adds (p2, p1) * r2: x gets p2, y gets p1.
    distorted = xy * (radial + tangential) + p[::-1] * r2
    return distorted * f + c


def unproject_points(uv, depth, camera):
    """Camera-space points from pixels and depths: the inverse of `project_points`.

    Undoes the lens distortion by fixed-point iteration on the normalised
    coordinates `(X / Z, Y / Z)` (20 steps; Human3.6M lenses converge to
    ~1e-12 px in fewer than 10).

    Args:
        uv: `(..., 2)` pixel coordinates.
        depth: `(...)` depth `Z` of each point (any length unit).
        camera: dict with `f`, `c` and optionally `k`, `p`, as for
            `project_points`.

    Returns:
        `(..., 3)` float64 points `(X, Y, Z)` in the unit of `depth`.

    Example:

    >>> camera = {"f": [2.0, 3.0], "c": [10.0, 20.0]}
    >>> unproject_points([[10.5, 21.5]], [4.0], camera)
    array([[1., 2., 4.]])
    """
    uv = np.asarray(uv, np.float64)
    depth = np.asarray(depth, np.float64)
    if uv.shape[-1:] != (2,) or depth.shape != uv.shape[:-1]:
        raise ValueError(
            f"unproject_points: expected uv (..., 2) and depth (...) of its leading shape, got {uv.shape} "
            f"and {depth.shape}."
        )
    f = _camera_vector(camera, "f", 2)
    c = _camera_vector(camera, "c", 2)
    normalised = (uv - c) / f
    for _ in range(_UNDISTORT_ITERATIONS):
        projected = project_points(np.concatenate([normalised, np.ones_like(normalised[..., :1])], -1), camera)
        normalised = normalised + (uv - projected) / f
    return np.concatenate([normalised * depth[..., None], depth[..., None]], axis=-1)


def world_to_camera(points_world, R, T):
    """Moves world points into a camera's frame: `X_cam = R.T @ (X_world - T)`.

    This is the Human3.6M file convention (`R` rotates camera axes into the
    world, `T` is the camera centre in the world), not OpenCV's
    `X_cam = R X + t`.

    Args:
        points_world: `(..., 3)` world points, in the unit of `T` (metres
            for the Human3.6M files).
        R: `(3, 3)` camera-to-world rotation.
        T: `(3,)` or `(3, 1)` camera centre in world coordinates.

    Returns:
        `(..., 3)` float64 camera-space points, same unit as the input.

    Example:

    >>> world_to_camera([[1.0, 2.0, 3.0]], np.eye(3), [1.0, 0.0, 0.0])
    array([[0., 2., 3.]])
    """
    points = np.asarray(points_world, np.float64)
    R = np.asarray(R, np.float64)
    T = np.asarray(T, np.float64).reshape(-1)
    if points.shape[-1:] != (3,):
        raise ValueError(f"world_to_camera: points_world must have shape (..., 3), got {points.shape}.")
    if R.shape != (3, 3) or T.shape != (3,):
        raise ValueError(f"world_to_camera: expected R (3, 3) and T (3,), got R {R.shape} and T {T.shape}.")
    # Row vectors: (R.T @ v).T = v.T @ R.
    return (points - T) @ R


def load_numpy_pickle(file, encoding="ASCII"):
    """Unpickles NumPy arrays, NumPy scalars and plain Python values, nothing else.

    Any other global (a class, `os.system`, ...) raises before it is called,
    so a hostile file cannot run code.

    Args:
        file: a file opened in binary mode.
        encoding: how Python 2 `str` objects are decoded; `"latin1"` loads
            NumPy arrays pickled by Python 2 / NumPy 1.x.

    Returns:
        the unpickled object.

    Raises:
        pickle.UnpicklingError: a forbidden global or a corrupt stream.

    Example:

    >>> import io, pickle
    >>> load_numpy_pickle(io.BytesIO(pickle.dumps({"f": np.ones(2)})))
    {'f': array([1., 1.])}
    """
    return _NumpyOnlyUnpickler(file, encoding=encoding).load()


def _parse_camera(value, where):
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a dict of calibration fields, got {type(value).__name__}.")
    camera = {}
    for field, size in _CAMERA_FIELDS.items():
        if field not in value:
            if field in _OPTIONAL_FIELDS:
                array = np.zeros(size)
            else:
                raise ValueError(f"{where}: missing field {field!r} (expected {size} numbers).")
        else:
            try:
                array = np.asarray(value[field], np.float64)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{where}: field {field!r} must be numbers, got {value[field]!r}.") from e
            if array.size != size:
                raise ValueError(
                    f"{where}: field {field!r} must have {size} numbers, got shape {array.shape}."
                )
        array = array.reshape((3, 3) if field == "R" else (size,))
        array.setflags(write=False)  # one dict is shared by every record of the camera
        camera[field] = array
    for field in ("w", "h"):
        if field in value:
            camera[field] = int(value[field])
    for field in ("name", "id"):
        if field in value:
            camera[field] = str(value[field])
    return camera


def _camera_vector(camera, field, size):
    if field not in camera:
        if field in _OPTIONAL_FIELDS:
            return np.zeros(size)
        raise ValueError(f"project_points: camera has no {field!r} (expected {size} numbers).")
    array = np.asarray(camera[field], np.float64).reshape(-1)
    if array.shape != (size,):
        raise ValueError(f"project_points: camera {field!r} must have {size} numbers, got {array.shape}.")
    return array


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds NumPy arrays and builtins but refuses any other global."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        # Pickle protocol 5 (Python >= 3.8's HIGHEST_PROTOCOL) rebuilds arrays from a buffer.
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name}; only NumPy arrays and plain values are allowed"
            )
        # numpy.core was renamed numpy._core in NumPy 2; old pickles name the former.
        if module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)

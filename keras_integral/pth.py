"""Read PyTorch `torch.save` files (`.pth`, `.pth.tar`) without torch and without running their code.

A leaf module (NumPy only), read by the backbones (torchvision's ResNets)
and the zoo (the authors' checkpoints).

A `.pth` file is a pickle whose tensors point at raw storages kept beside
it. Two layouts exist, and both are read here:

- zip (torch >= 1.6): `<name>/data.pkl` is the pickle, `<name>/data/<key>`
  the raw bytes of each storage, `<name>/byteorder` their byte order;
- legacy (torch < 1.6, and `_use_new_zipfile_serialization=False`): one
  stream of pickles, a magic number, a protocol version, system info, the
  object, the list of storage keys, then each storage as an int64 element
  count followed by its bytes. torchvision's 2017 model-zoo files and the
  authors' checkpoints are in this layout.

A third layout, torch's first (a tar archive of `sys_info`, `pickle`,
`storages`, `tensors`, written before the legacy stream above), is
recognised and refused with a message naming it. (torchvision's model-zoo
files of 2017-2020 are legacy streams, read above, not tar archives.)

Unpickling calls whatever global the file names, so the unpickler here
accepts only the globals a tensor state dict needs, the rule of
`torch.load(weights_only=True)`: `collections.OrderedDict` and `Counter`,
torch's tensor rebuild functions, its storage types and dtypes, and a few
builtin constructors. Each of these resolves to a NumPy stand-in defined
below, never to torch. One explicit addition, as `torch.serialization.
add_safe_globals` would make it: NumPy arrays, their dtypes and scalars
(`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`,
`numpy.core.multiarray.scalar`, and their NumPy 2 `numpy._core` names),
which MMPose checkpoints hold in `meta["dataset_meta"]`; they are rebuilt
from their bytes by stand-ins here (numeric, bool and string dtypes only),
never by NumPy's own unpickling. Any other global (`os.system`, a class,
...) stops the read with `UnsafeCheckpointError`, naming it, before it is
called.

Example:

>>> from keras_integral import pth
>>> state = pth.load_state_dict("resnet50-0676ba61.pth")  # doctest: +SKIP
>>> state["conv1.weight"].shape, state["conv1.weight"].dtype  # doctest: +SKIP
((64, 3, 7, 7), dtype('float32'))
"""

import _compat_pickle
import collections
import os
import pickle
import struct
import tarfile
import zipfile

import numpy as np

# What torch.save files are called.
PTH_SUFFIXES = (".pth", ".pth.tar", ".pt")
# torch/serialization.py: the legacy stream's first two pickles.
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

# torch storage type / dtype name -> NumPy dtype. bfloat16 has no NumPy type:
# it is widened to float32 (its bits are the upper half of a float32).
_STORAGE_DTYPES = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


class UnsafeCheckpointError(ValueError):
    """A `.pth` file names a global outside the tensor state-dict allow-list; nothing of it was run."""


class MissingTensorError(ValueError):
    """A converter needs a tensor the state dict does not have (the message names the first)."""


class TensorShapeError(ValueError):
    """A state dict's tensor has another shape than the layer it maps onto needs (the message names it)."""


class UnusedTensorError(ValueError):
    """A state dict holds a tensor no layer takes, so the conversion would drop part of it (named)."""


class _StorageType:
    """Stand-in for `torch.FloatStorage` & co.: only its element type matters."""

    def __init__(self, dtype):
        self.dtype = dtype


class _Storage:
    """One storage of the file: `numel` elements of `dtype`, filled from the file's bytes."""

    def __init__(self, dtype, numel):
        self.dtype = dtype
        self.numel = int(numel)
        self.data = None  # 1-D array, set once the bytes are read


class _PendingTensor:
    """A tensor whose storage may not be read yet (legacy files put the bytes after the pickle)."""

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *_):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(f"a tensor refers to {type(storage).__name__}, not a storage")
    return _PendingTensor(storage, storage_offset, size, stride)


class _NumpyDType:
    """Stand-in for `numpy.dtype(code, align, copy)` as pickled: a plain dtype code and a byte order."""

    KINDS = "biufcSU"  # no object, void (structured) or datetime dtypes

    def __init__(self, code, align=False, copy=True):
        dtype = np.dtype(_text(code)) if isinstance(code, (str, bytes)) else None
        if dtype is None or dtype.kind not in self.KINDS:
            raise pickle.UnpicklingError(f"numpy dtype {code!r:.40} is not a plain numeric or string dtype")
        self.dtype = dtype

    def __setstate__(self, state):
        # (version, byte order, subarray, names, fields, elsize, alignment, flags)
        order = state[1] if isinstance(state, tuple) and len(state) > 1 else "|"
        if order not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError(f"numpy dtype byte order {order!r:.20}")
        self.dtype = self.dtype.newbyteorder(order) if order != "|" else self.dtype


class _NumpyArray:
    """Stand-in for `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b"b")`; its bytes come in
    `__setstate__` (`(version, shape, dtype, is_fortran, raw bytes)`), as NumPy pickles them."""

    def __init__(self, cls, shape, typecode):
        if cls is not _NUMPY_NDARRAY:
            raise pickle.UnpicklingError("numpy _reconstruct of something other than numpy.ndarray")
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("numpy array state is not (version, shape, dtype, fortran, data)")
        shape, dtype, fortran, raw = state[-4:]
        if not isinstance(dtype, _NumpyDType) or not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("numpy array state without a plain dtype and raw bytes")
        shape = tuple(int(n) for n in shape)
        if len(raw) != int(np.prod(shape, dtype=np.int64)) * dtype.dtype.itemsize:
            raise pickle.UnpicklingError(f"numpy array of shape {shape}: {len(raw)} bytes do not fit")
        flat = np.frombuffer(bytes(raw), dtype.dtype)
        self.array = flat.reshape(shape, order="F" if fortran else "C").astype(dtype.dtype.newbyteorder("="))


def _numpy_scalar(dtype, raw=b""):
    if not isinstance(dtype, _NumpyDType) or not isinstance(raw, (bytes, bytearray)):
        raise pickle.UnpicklingError("numpy scalar without a plain dtype and raw bytes")
    if len(raw) != dtype.dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy scalar of {dtype.dtype}: {len(raw)} bytes")
    return np.frombuffer(bytes(raw), dtype.dtype)[0]


# Marks the one class `_reconstruct` may rebuild (an `object()`: nothing can be set on it).
_NUMPY_NDARRAY = object()
_NUMPY_GLOBALS = {
    **{(module, "_reconstruct"): lambda: type("_reconstruct", (_NumpyArray,), {})
       for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "scalar"): lambda: _numpy_scalar
       for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    ("numpy", "ndarray"): lambda: _NUMPY_NDARRAY,
    ("numpy", "dtype"): lambda: type("dtype", (_NumpyDType,), {}),
}


def _rebuild_parameter(data, *_):
    # A Parameter is its tensor; requires_grad and hooks mean nothing here.
    return data


# (module, name) -> a factory of what the file gets instead of torch's object. Each global
# read gets a fresh object, so a pickle that sets attributes on one (BUILD) changes nothing else.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): lambda: collections.OrderedDict,
    ("collections", "Counter"): lambda: collections.Counter,
    ("torch._utils", "_rebuild_tensor"): lambda: lambda *args: _rebuild_tensor(*args),
    ("torch._utils", "_rebuild_tensor_v2"): lambda: lambda *args: _rebuild_tensor(*args),
    ("torch._utils", "_rebuild_parameter"): lambda: lambda *args: _rebuild_parameter(*args),
    ("torch._utils", "_rebuild_parameter_with_state"): lambda: lambda *args: _rebuild_parameter(*args),
    ("builtins", "set"): lambda: set,
    ("builtins", "complex"): lambda: complex,
    ("builtins", "bytearray"): lambda: bytearray,
    # Protocol-2 pickles (torch's default) write `bytes` as _codecs.encode(text, "latin1").
    ("_codecs", "encode"): lambda: lambda text, encoding="utf-8": str(text).encode(encoding),
    **{(module, name): (lambda dtype=dtype: _StorageType(dtype))
       for name, dtype in _STORAGE_DTYPES.items() for module in ("torch", "torch.cuda")},
    **_NUMPY_GLOBALS,
}


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only `_ALLOWED_GLOBALS`; storages come from `load_storage(dtype, key, numel, view)`."""

    def __init__(self, file, load_storage, source):
        super().__init__(file, encoding="utf-8")
        self._load_storage = load_storage
        self._source = source

    def find_class(self, module, name):
        # Protocol-2 pickles (torch's default) name Python 2 modules: __builtin__.set is builtins.set.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        factory = _ALLOWED_GLOBALS.get((module, name))
        if factory is None:
            raise UnsafeCheckpointError(
                f"{self._source}: refusing to load the global {module}.{name}. A weights file "
                "holds tensors in plain containers, and only the globals that rebuilds those are "
                "allowed (the torch.load(weights_only=True) rule, plus NumPy arrays); nothing from "
                "the file was run."
            )
        return factory()

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or _text(pid[0]) != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r:.100}")
        # zip: (storage, type, key, location, numel); legacy adds view metadata.
        storage_type, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) > 5 else None
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"storage of unknown type {storage_type!r:.100}")
        return self._load_storage(storage_type.dtype, _text(key), int(numel), view)


def load_pth(path):
    """Reads a `torch.save` file into plain Python containers with NumPy arrays for tensors.

    Args:
        path: the `.pth` / `.pth.tar` / `.pt` file (zip or legacy layout).

    Returns:
        The saved object with every tensor replaced by a NumPy array of its
        shape and dtype (bfloat16 as float32), e.g. a dict of arrays for a
        `state_dict()`.

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file names a global outside the
            allow-list (the message names it); nothing of it was run.
        ValueError: not a `torch.save` file, or truncated or inconsistent
            (a tensor reaching past its storage).

    Example:

    >>> checkpoint = load_pth("model_chall_train_152ft_384x288.pth.tar")  # doctest: +SKIP
    >>> sorted(checkpoint)  # doctest: +SKIP
    ['epoch', 'network', 'optimizer', 'scheduler', 'train_loss', 'valid_loss']
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such .pth file: {path!r}.")
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        _refuse_tar_layout(path)
        with open(path, "rb") as f:
            return _load_legacy(f, path)
    except (UnsafeCheckpointError, TarLayoutError):
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile, KeyError,
            TypeError, ValueError, IndexError, AttributeError, UnicodeDecodeError) as e:
        raise ValueError(
            f"{path}: not a readable torch.save file ({type(e).__name__}: {e})."
        ) from e


def load_state_dict(path):
    """Reads a `.pth` state dict (`module.state_dict()` saved with `torch.save`) as `{key: array}`.

    Args:
        path: the file.

    Returns:
        dict from parameter/buffer name (e.g. `"layer1.0.conv1.weight"`) to
        a NumPy array.

    Raises:
        ValueError: the file holds something other than a flat mapping of
            names to tensors (the message says what it found); see also
            `load_pth`.

    Example:

    >>> load_state_dict("resnet18-f37072fd.pth")["fc.weight"].shape  # doctest: +SKIP
    (1000, 512)
    """
    state = load_pth(path)
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{path}: expected a state dict of named tensors, found {type(state).__name__}.")
    for key, value in state.items():
        if not isinstance(value, np.ndarray):
            raise ValueError(
                f"{path}: expected a state dict of named tensors, but {key!r} is "
                f"{type(value).__name__}, not a tensor (a training checkpoint? save its state dict)."
            )
    return {str(k): v for k, v in state.items()}


# torch's first torch.save wrote a tar archive with these members (torch/serialization.py, `legacy_load`).
TAR_LAYOUT_MEMBERS = ("sys_info", "pickle", "storages", "tensors")


class TarLayoutError(ValueError):
    """A `.pth` in torch's first layout (a tar archive), which this reader does not read."""


def _refuse_tar_layout(path):
    if not tarfile.is_tarfile(path):
        return
    with tarfile.open(path) as tar:
        names = tar.getnames()
    if "pickle" in names:
        raise TarLayoutError(
            f"{path}: a torch.save file in torch's first, tar layout (members {names[:4]}), "
            "which this reader does not read. Re-save it with torch: "
            "torch.save(torch.load(path), new_path)."
        )
    raise ValueError(f"{path}: a tar archive (members {names[:4]}), not a torch.save file.")


def _load_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"expected one <name>/data.pkl in the zip, found {pickles}")
        root = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if root + "byteorder" in names:
            byteorder = archive.read(root + "byteorder").decode("ascii").strip()
        storages = {}

        def load_storage(dtype, key, numel, view):
            if key not in storages:
                name = f"{root}data/{key}"
                # Checked before reading, so a compressed entry cannot inflate past its tensors.
                if archive.getinfo(name).file_size != numel * _itemsize(dtype):
                    raise ValueError(f"storage {key!r}: {archive.getinfo(name).file_size} bytes for "
                                     f"{numel} {dtype} elements")
                storage = _Storage(dtype, numel)
                storage.data = _as_array(archive.read(name), dtype, numel, byteorder, key)
                storages[key] = storage
            return storages[key]

        with archive.open(pickles[0]) as f:
            obj = _StateDictUnpickler(f, load_storage, path).load()
    return _materialise(obj)


def _load_legacy(f, path):
    def plain_pickle():
        # The header pickles hold only ints and a dict of ints and strings.
        return _StateDictUnpickler(f, _no_storage, path).load()

    if plain_pickle() != LEGACY_MAGIC_NUMBER:
        raise ValueError("no torch.save magic number: not a .pth file")
    version = plain_pickle()
    if version != LEGACY_PROTOCOL_VERSION:
        raise ValueError(f"legacy protocol version {version}, expected {LEGACY_PROTOCOL_VERSION}")
    sys_info = plain_pickle()
    byteorder = "little" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else "big"
    storages = {}
    views = {}

    def load_storage(dtype, key, numel, view):
        storage = storages.setdefault(key, _Storage(dtype, numel))
        if view is None:
            return storage
        view_key, offset, view_numel = view
        # An old-style storage view: elements [offset, offset + numel) of the root.
        views.setdefault(_text(view_key), (storage, int(offset), _Storage(dtype, view_numel)))
        return views[_text(view_key)][2]

    obj = _StateDictUnpickler(f, load_storage, path).load()
    keys = plain_pickle()
    for key in keys:
        key = _text(key)
        if key not in storages:
            raise ValueError(f"storage {key!r} is listed but no tensor uses it")
        storage = storages[key]
        (numel,) = struct.unpack("<q" if byteorder == "little" else ">q", f.read(8))
        if numel != storage.numel:
            raise ValueError(f"storage {key!r} has {numel} elements, its tensors say {storage.numel}")
        storage.data = _as_array(f.read(numel * _itemsize(storage.dtype)), storage.dtype, numel, byteorder, key)
    for root, offset, view in views.values():
        view.data = root.data[offset : offset + view.numel]
    return _materialise(obj)


def _no_storage(*_):
    raise pickle.UnpicklingError("a tensor outside the object pickle")


def _itemsize(dtype):
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def _as_array(raw, dtype, numel, byteorder, key):
    if len(raw) != numel * _itemsize(dtype):
        raise ValueError(f"storage {key!r}: {len(raw)} bytes for {numel} {dtype} elements (truncated file?)")
    order = "<" if byteorder == "little" else ">"
    if dtype == "bfloat16":
        bits = np.frombuffer(raw, order + "u2").astype(np.uint32) << 16
        return bits.view(np.float32)
    return np.frombuffer(raw, np.dtype(dtype).newbyteorder(order) if dtype != "bool" else np.bool_)


def _materialise(obj):
    """Replaces every `_PendingTensor` in nested containers by its NumPy array."""
    if isinstance(obj, _PendingTensor):
        return _tensor_array(obj)
    if isinstance(obj, _NumpyArray):
        if obj.array is None:
            raise ValueError("a numpy array without its data")
        return obj.array
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, (collections.OrderedDict, collections.Counter)) else {}
        for key, value in obj.items():
            out[key] = _materialise(value)
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        return type(obj)(_materialise(v) for v in obj)
    return obj


def _tensor_array(tensor):
    data = tensor.storage.data
    if data is None:
        raise ValueError("a tensor's storage bytes are missing from the file")
    size, stride, offset = tensor.size, tensor.stride, tensor.offset
    if len(size) != len(stride) or any(s < 0 for s in size + stride) or offset < 0:
        raise ValueError(f"bad tensor layout: size {size}, stride {stride}, offset {offset}")
    if 0 in size:
        return np.zeros(size, data.dtype)
    if np.prod(size, dtype=np.float64) > data.size:
        raise ValueError(f"a tensor of size {size} is larger than its storage of {data.size} elements")
    # The last element it reads must lie inside the storage (as_strided does not check).
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= data.size:
        raise ValueError(
            f"a tensor of size {size} and stride {stride} at offset {offset} reaches element {last} "
            f"of a storage of {data.size}"
        )
    view = np.lib.stride_tricks.as_strided(
        data[offset:], shape=size, strides=[s * data.itemsize for s in stride], writeable=False
    )
    return np.array(view, dtype=data.dtype.newbyteorder("="))


def _text(value):
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


__all__ = ["PTH_SUFFIXES", "MissingTensorError", "TarLayoutError", "TensorShapeError", "UnsafeCheckpointError",
           "UnusedTensorError", "load_pth", "load_state_dict"]

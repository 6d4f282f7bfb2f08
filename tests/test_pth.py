"""Reading `torch.save` files without torch (`keras_integral/pth.py`), checked against `torch.load` itself.

Both layouts (zip and legacy) are written by torch 2.13 and read back by our
reader and by `torch.load(weights_only=True)`; hostile files (a pickle
calling `os.system`, a tensor reaching past its storage, a truncated
storage) are made with torch's own writer and must be refused without
running anything.
"""

import collections
import os
import zipfile

import numpy as np
import pytest

from keras_integral import pth
from tests.torch_resnet import needs_torch
from tests.torch_resnet import torch

pytestmark = needs_torch
LAYOUTS = {"zip": True, "legacy": False}


def save(obj, path, layout):
    torch.save(obj, path, _use_new_zipfile_serialization=LAYOUTS[layout])
    return path


def as_numpy(tensor):
    tensor = tensor.detach()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_reads_what_torch_load_reads(layout, tmp_path):
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=generator)
    tensors = collections.OrderedDict(
        float32=torch.randn(2, 3, 5, generator=generator),
        float64=torch.randn(3, generator=generator, dtype=torch.float64),
        float16=torch.randn(7, generator=generator).half(),
        bfloat16=torch.randn(5, generator=generator).bfloat16(),
        int64=torch.arange(-3, 9),
        uint8=torch.arange(250, 256, dtype=torch.uint8),
        bool=torch.tensor([True, False, True]),
        scalar=torch.tensor(2.5),
        empty=torch.zeros(0, 4),
        transposed=base.t(),  # non-contiguous: strides (1, 6)
        sliced=base[1:3, 2:5],  # offset 8 into the shared storage
        parameter=torch.nn.Parameter(torch.ones(2, 2)),
    )
    checkpoint = {"network": tensors, "epoch": 7, "loss": 0.25, "name": "x", "raw": b"\x00\xff",
                  "betas": (0.9, 0.999), "layers": [1, 2], "tags": {3, 4}, "optimizer": torch.optim.Adam(
                      [torch.nn.Parameter(torch.ones(3))]).state_dict()}
    path = save(checkpoint, tmp_path / "checkpoint.pth", layout)

    ours = pth.load_pth(path)
    theirs = torch.load(path, weights_only=True)
    assert type(ours["network"]) is collections.OrderedDict
    assert list(ours["network"]) == list(tensors)
    for key, tensor in theirs["network"].items():
        expected = as_numpy(tensor)
        got = ours["network"][key]
        assert got.shape == expected.shape and got.dtype == expected.dtype, key
        np.testing.assert_array_equal(got, expected, err_msg=key)
    for key in ("epoch", "loss", "name", "raw", "betas", "layers", "tags", "optimizer"):
        assert ours[key] == theirs[key], key


def test_state_dict_reader_wants_named_tensors(tmp_path):
    state = {"conv1.weight": torch.ones(2, 3)}
    loaded = pth.load_state_dict(save(state, tmp_path / "state.pth", "zip"))
    assert list(loaded) == ["conv1.weight"] and loaded["conv1.weight"].shape == (2, 3)
    with pytest.raises(ValueError, match="'epoch' is int, not a tensor"):
        pth.load_state_dict(save({"epoch": 3, "w": torch.ones(1)}, tmp_path / "ckpt.pth", "zip"))
    with pytest.raises(ValueError, match="expected a state dict"):
        pth.load_state_dict(save([torch.ones(1)], tmp_path / "list.pth", "zip"))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        pth.load_state_dict(tmp_path / "missing.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="text.pth"):
        pth.load_state_dict(tmp_path / "text.pth")


class RunsCode:
    """Pickles as a call of `function(*args)`: what a hostile checkpoint does on torch.load."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("function, qualified", [(os.system, f"{os.system.__module__}.system"),
                                                 (eval, "builtins.eval")])
def test_hostile_pickle_is_refused_and_nothing_runs(layout, function, qualified, tmp_path):
    marker = tmp_path / "ran"
    command = f"touch {marker}" if function is os.system else f"open({str(marker)!r}, 'w')"
    state = {"conv1.weight": torch.ones(1), "bias": RunsCode(function, command)}
    path = save(state, tmp_path / "evil.pth", layout)
    with pytest.raises(pth.UnsafeCheckpointError, match=f"global {qualified}") as info:
        pth.load_pth(path)
    assert "nothing from the file was run" in str(info.value)
    assert not marker.exists()
    # The test is real: torch's unrestricted loader would have run it.
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_tensor_past_its_storage_is_refused(layout, tmp_path):
    # A tensor of 100 elements over a 4-element storage: as_strided would read past the buffer.
    storage = torch.ones(4).untyped_storage()
    typed = torch.storage.TypedStorage(wrap_storage=storage, dtype=torch.float32, _internal=True)
    bad = RunsCode(torch._utils._rebuild_tensor_v2, typed, 0, (100,), (1,), False, collections.OrderedDict())
    path = save({"w": bad}, tmp_path / "bad.pth", layout)
    with pytest.raises(ValueError, match="larger than its storage|reaches element"):
        pth.load_pth(path)


def test_truncated_storage_is_refused(tmp_path):
    path = save({"w": torch.ones(16)}, tmp_path / "full.pth", "zip")
    truncated = tmp_path / "truncated.pth"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(truncated, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data[:10] if "/data/" in name else data)
    with pytest.raises(ValueError, match="bytes for 16 float32 elements"):
        pth.load_pth(truncated)
    legacy = save({"w": torch.ones(16)}, tmp_path / "legacy.pth", "legacy")
    legacy.write_bytes(legacy.read_bytes()[:-8])
    with pytest.raises(ValueError, match="truncated"):
        pth.load_pth(legacy)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_numpy_arrays_and_counters_in_a_checkpoint_are_rebuilt_without_numpy_unpickling(layout, tmp_path):
    # MMPose's `meta["dataset_meta"]` holds NumPy arrays (colours, sigmas); mmengine's meta a Counter.
    meta = {"dataset_meta": {"sigmas": np.array([0.026, 0.025], np.float32),
                             "keypoint_colors": np.array([[51, 153, 255], [0, 255, 0]], np.uint8),
                             "fortran": np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
                             "big_endian": np.arange(3, dtype=">f8"),
                             "names": np.array(["nose", "left_eye"]),
                             "seed": np.int64(7), "scale": np.float32(0.5)},
            "counts": collections.Counter({"a": 2})}
    path = save({"meta": meta, "state_dict": {"w": torch.ones(2)}}, tmp_path / "mmpose.pth", layout)
    ours = pth.load_pth(path)["meta"]
    theirs = torch.load(path, weights_only=False)["meta"]
    for key, value in theirs["dataset_meta"].items():
        got = ours["dataset_meta"][key]
        assert type(got) is type(value) or isinstance(got, np.generic), key
        np.testing.assert_array_equal(got, value, err_msg=key)
        assert np.asarray(got).dtype == np.asarray(value).dtype.newbyteorder("="), key
    assert ours["counts"] == collections.Counter({"a": 2}) and type(ours["counts"]) is collections.Counter


@pytest.mark.parametrize("layout", LAYOUTS)
def test_object_arrays_and_other_numpy_globals_are_refused(layout, tmp_path):
    marker = tmp_path / "ran"
    path = save({"meta": {"a": np.array([1, "x"], dtype=object)}}, tmp_path / "object.pth", layout)
    with pytest.raises(ValueError, match="not a plain numeric or string dtype"):
        pth.load_pth(path)
    # A NumPy function that is not an array rebuild is refused by name, and does not run.
    hostile = {"meta": {"x": np.zeros(2)}, "w": RunsCode(np.save, str(marker), np.zeros(1))}
    with pytest.raises(pth.UnsafeCheckpointError, match="global numpy.save"):
        pth.load_pth(save(hostile, tmp_path / "hostile.pth", layout))
    assert not marker.with_suffix(".npy").exists()


def test_torch_tar_layout_is_named_and_refused(tmp_path):
    import io
    import tarfile

    path = tmp_path / "resnet_2017.pth"
    with tarfile.open(path, "w") as tar:
        for name in pth.TAR_LAYOUT_MEMBERS:
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"\x80\x02N."))
    with pytest.raises(pth.TarLayoutError, match=r"torch's first, tar layout \(members \['sys_info'"):
        pth.load_pth(path)


def test_what_torch_refuses_is_refused(tmp_path):
    # torch.load(weights_only=True) has no builtins.frozenset in its allow-list; neither do we.
    path = save({"w": torch.ones(1), "tags": frozenset({1})}, tmp_path / "frozen.pth", "zip")
    with pytest.raises(Exception, match="frozenset"):
        torch.load(path, weights_only=True)
    with pytest.raises(pth.UnsafeCheckpointError, match="global builtins.frozenset"):
        pth.load_pth(path)

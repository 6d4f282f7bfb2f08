"""The zoo: save_preset -> from_preset round trips, the cache's checks, and the registry's honesty.

Hashes are recomputed here with hashlib; archives for the attack cases are
built by hand with tarfile; the registry is read back as plain JSON.
"""

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import time
import urllib.request
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_integral
from keras_integral import download
from keras_integral import skeletons
from keras_integral.models import IntegralPoseModel
from keras_integral.zoo import ChecksumMismatchError
from keras_integral.zoo import PresetUnavailableError
from keras_integral.zoo import UnsafeArchiveError
from keras_integral.zoo import pack_preset
from keras_integral.zoo import registry
from keras_integral.zoo import save_preset

SIZE = (64, 64)
REGISTRY = json.loads((Path(keras_integral.__file__).parent / "zoo" / "presets.json").read_text())
METADATA = {
    "description": "test model",
    "source": "tests/test_zoo.py: 2 steps on random data",
    "licence": "MIT",
    "metrics": {"pck@0.05": {"value": None, "note": "random weights, not measured"}},
}


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache."""
    root = tmp_path / "cache"
    monkeypatch.setenv("KERAS_INTEGRAL_HOME", str(root))
    return root / "presets"


def cache_entries(presets_dir):
    return sorted(p.name for p in presets_dir.iterdir()) if presets_dir.exists() else []


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model after a few training steps, its preset folder, archive and test images."""
    rng = np.random.default_rng(0)
    # MobileNetV3-small with a narrow head: 1.3 M parameters keep the files small and fast.
    model = IntegralPoseModel(backbone="mobilenetv3_small", method="I1", skeleton="coco",
                              input_size=SIZE, head_filters=32)
    # Eager steps: tracing the train step would cost far more than the steps themselves.
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    images = rng.uniform(0, 255, (4, *SIZE, 3)).astype("float32")
    y = {"keypoints": rng.uniform(0, 63, (4, 17, 2)).astype("float32"),
         "weights": np.ones((4, 17, 2), "float32")}
    model.fit(images, y, batch_size=2, epochs=1, verbose=0)
    folder = save_preset(model, tmp_path_factory.mktemp("zoo") / "i1_mobilenetv3_small_test_64x64", METADATA)
    archive, digest = pack_preset(folder, verbose=False)
    expected = predict(model, images)
    return {"model": model, "dir": folder, "archive": archive, "sha256": digest,
            "images": images, "expected": expected}


def predict(model, images):
    return {k: np.asarray(v) for k, v in model.predict_step(images).items()}


def assert_same_predictions(model, trained):
    out = predict(model, trained["images"])
    for key in ("keypoints", "scores"):
        np.testing.assert_array_equal(out[key], trained["expected"][key])


def test_preset_folder_has_config_weights_and_verified_metadata(trained):
    folder = trained["dir"]
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "metadata.json", "model.weights.h5"]
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["weights_sha256"] == sha256_of(folder / "model.weights.h5")
    assert metadata["skeleton"] == "coco" and metadata["input_size"] == list(SIZE)
    assert metadata["method"] == "I1" and metadata["backbone"] == "mobilenetv3_small"
    assert metadata["source"] == METADATA["source"] and metadata["licence"] == "MIT"
    assert metadata["metrics"] == METADATA["metrics"]
    assert metadata["parameter_count"] == trained["model"].count_params()
    config = json.loads((folder / "config.json").read_text())
    assert config["class_name"] == "IntegralPoseModel"
    assert config["config"]["skeleton"] == "coco"


def test_round_trip_local_folder(trained):
    assert_same_predictions(keras_integral.from_preset(trained["dir"]), trained)


def test_round_trip_file_url_then_cache_hit(trained, cache, monkeypatch):
    url = trained["archive"].resolve().as_uri()
    assert trained["sha256"] == sha256_of(trained["archive"])
    model = keras_integral.from_preset(url, sha256=trained["sha256"])
    assert_same_predictions(model, trained)
    assert cache_entries(cache) == [trained["sha256"]]  # no leftovers from the download

    def offline(*args, **kwargs):
        raise AssertionError("a cached preset with a known sha256 must not be downloaded again")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert_same_predictions(keras_integral.from_preset(url, sha256=trained["sha256"]), trained)
    # A local archive path is the same as its file:// URL.
    assert_same_predictions(keras_integral.from_preset(str(trained["archive"]), sha256=trained["sha256"]), trained)


def test_pack_is_reproducible_and_holds_one_folder(trained, tmp_path):
    again, digest = pack_preset(trained["dir"], tmp_path / "again.tar.gz", verbose=False)
    assert digest == trained["sha256"] == sha256_of(again)
    with tarfile.open(again) as tar:
        names = sorted(tar.getnames())
    folder = trained["dir"].name
    assert names == [f"{folder}/config.json", f"{folder}/metadata.json", f"{folder}/model.weights.h5"]


def test_sha256_mismatch_is_refused_and_nothing_cached(trained, cache):
    url = trained["archive"].resolve().as_uri()
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatchError, match=wrong):
        keras_integral.from_preset(url, sha256=wrong)
    assert cache_entries(cache) == []


def test_tampered_weights_are_refused(trained, tmp_path):
    folder = tmp_path / "tampered"
    folder.mkdir()
    for name in ("config.json", "metadata.json", "model.weights.h5"):
        (folder / name).write_bytes((trained["dir"] / name).read_bytes())
    weights = bytearray((folder / "model.weights.h5").read_bytes())
    weights[-1] ^= 0xFF
    (folder / "model.weights.h5").write_bytes(bytes(weights))
    with pytest.raises(ChecksumMismatchError, match="metadata.json"):
        keras_integral.from_preset(folder)


def test_metadata_without_weights_hash_is_refused(trained, tmp_path):
    folder = tmp_path / "unverifiable"
    folder.mkdir()
    for name in ("config.json", "model.weights.h5"):
        (folder / name).write_bytes((trained["dir"] / name).read_bytes())
    (folder / "metadata.json").write_text(json.dumps({"source": "?", "licence": "?"}))
    with pytest.raises(ValueError, match="weights_sha256"):
        keras_integral.from_preset(folder)


def test_missing_preset_file_is_named(trained, tmp_path):
    folder = tmp_path / "incomplete"
    folder.mkdir()
    (folder / "config.json").write_bytes((trained["dir"] / "config.json").read_bytes())
    with pytest.raises(FileNotFoundError, match="model.weights.h5"):
        keras_integral.zoo.load_preset(folder)


def write_tar(path, members):
    """members: list of (TarInfo, bytes or None)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def file_member(name, data=b"{}"):
    return tarfile.TarInfo(name), data


def link_member(name, target, kind):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize("bad", [
    file_member("../escaped.json"),
    file_member("preset/../../escaped.json"),
    "absolute",  # built in the test: an absolute path inside tmp_path
    link_member("preset/model.weights.h5", "/etc/passwd", tarfile.SYMTYPE),
    link_member("preset/model.weights.h5", "../../escaped", tarfile.LNKTYPE),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "hardlink-out"])
def test_path_traversal_archives_are_refused(bad, tmp_path, cache):
    if bad == "absolute":
        bad = file_member(str(tmp_path / "absolute_escaped.json"))
    archive = write_tar(tmp_path / "evil.tar.gz", [file_member("preset/config.json"), bad])
    with pytest.raises(UnsafeArchiveError, match=re.escape(repr(bad[0].name))):
        keras_integral.from_preset(archive.as_uri())
    assert not (tmp_path / "escaped.json").exists()
    assert not (tmp_path / "absolute_escaped.json").exists()
    assert not list(tmp_path.rglob("escaped*"))
    assert cache_entries(cache) == []


def test_archive_with_files_at_top_level_is_accepted(trained, tmp_path):
    members = [file_member(name, (trained["dir"] / name).read_bytes())
               for name in ("config.json", "metadata.json", "model.weights.h5")]
    archive = write_tar(tmp_path / "flat.tar.gz", members)
    folder = download.fetch(archive.as_uri(), progress=False)
    assert folder.name == sha256_of(archive)
    assert sorted(p.name for p in folder.iterdir()) == [".sha256sums", "config.json", "metadata.json",
                                                         "model.weights.h5"]
    recorded = dict(line.split("  ")[::-1] for line in (folder / ".sha256sums").read_text().splitlines())
    assert recorded == {p.name: sha256_of(p) for p in folder.iterdir() if p.name != ".sha256sums"}


def test_truncated_file_leaves_no_cache_entry(trained, tmp_path, cache):
    data = trained["archive"].read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        keras_integral.from_preset(truncated.as_uri())
    assert cache_entries(cache) == []
    with pytest.raises(ChecksumMismatchError):
        keras_integral.from_preset(truncated.as_uri(), sha256=trained["sha256"])
    assert cache_entries(cache) == []


class FailingResponse(io.BytesIO):
    """An HTTP response that announces `length` bytes, sends `data`, then fails or ends."""

    def __init__(self, data, length, error=None):
        super().__init__(data)
        self.headers = {"Content-Length": str(length)}
        self.error = error

    def read(self, size=-1):
        chunk = super().read(size)
        if not chunk and self.error:
            raise self.error
        return chunk


@pytest.mark.parametrize("error", [ConnectionResetError("connection reset by peer"), None],
                         ids=["exception-mid-copy", "short-read"])
def test_interrupted_download_leaves_no_cache_entry(trained, cache, monkeypatch, error):
    data = trained["archive"].read_bytes()
    monkeypatch.setattr(download, "_CHUNK_BYTES", 4096)
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda url, timeout: FailingResponse(data[:10000], len(data), error))
    with pytest.raises(PresetUnavailableError, match="stopped after 10000"):
        keras_integral.from_preset("https://example.invalid/preset.tar.gz", progress=False)
    assert cache_entries(cache) == []


def test_unreachable_urls_say_so(tmp_path, cache):
    missing = (tmp_path / "nowhere.tar.gz").as_uri()
    with pytest.raises(PresetUnavailableError, match=re.escape(missing)):
        keras_integral.from_preset(missing)
    # Port 9 (discard) on loopback: refused at once, no internet needed.
    with pytest.raises(PresetUnavailableError, match="Cannot reach https://127.0.0.1:9/"):
        keras_integral.from_preset("https://127.0.0.1:9/preset.tar.gz", progress=False)
    with pytest.raises(ValueError, match="Unsupported URL"):
        keras_integral.from_preset("ftp://example.invalid/preset.tar.gz")
    assert cache_entries(cache) == []


def test_unknown_name_lists_the_known_names():
    known = list(REGISTRY["presets"])
    with pytest.raises(ValueError) as info:
        keras_integral.from_preset("coco_resnet50_mmpose_dnst_256_hm64")
    for name in known:
        assert name in str(info.value)
    assert "Did you mean 'coco_resnet50_mmpose_dsnt_256_hm64'" in str(info.value)


def test_every_registry_entry_names_a_real_upstream_source_and_claims_nothing_measured_here():
    for name, entry in REGISTRY["presets"].items():
        source = entry["source"]
        assert source["format"] in registry.CONVERTERS, name
        assert source["url"].startswith("https://") and "keras-integral/releases" not in source["url"], name
        file_name = registry.upstream_file_name(source["url"])
        if source["format"] == "mmpose":
            # MMPose's publish_model.py names the file <stem>-<first 8 hex digits of its SHA-256>_<date>.pth.
            assert re.fullmatch(r".+-([0-9a-f]{8})_\d{8}\.pth", file_name).group(1) == source["sha256_prefix"]
            assert source["url"].startswith("https://download.openmmlab.com/mmpose/v1/"), name
            assert "mmpose" in name and any(v in name for v in ("ipr", "dsnt", "debias")), name
        else:
            assert source["sha256_prefix"] is None and source["hash_note"], name
            assert source["url"].startswith("https://www.dropbox.com/") and source["url"].endswith("?dl=1")
        assert entry["licence"] and entry["description"], name
        assert entry["reported"]["value"] is not None and "not measured here" in entry["reported"]["protocol"]
        skeletons.get(entry["skeleton"])
    rows = keras_integral.zoo.list_presets()
    assert [r["name"] for r in rows] == list(REGISTRY["presets"])
    assert not any(r["cached"] for r in rows)
    info = keras_integral.zoo.info("coco_resnet50_mmpose_ipr_256_hm64")
    assert info["source"]["url"] in info["source"]["url"] and info["cached_at"] is None
    assert info["upstream_path"].endswith("/upstream/ipr_res50_8xb64-210e_coco-256x256-a3898a33_20220913.pth")


def test_the_recipes_of_the_withdrawn_placeholders_stay():
    recipes = Path(__file__).resolve().parents[1] / "recipes" / "paper"
    for name in ("mpii_resnet50_i1_256_hm64", "mpii_resnet18_i1_256_hm32", "coco_resnet101_i1_256_hm64",
                 "h36m_resnet50_istar_strategy2"):
        assert (recipes / f"{name}.yaml").is_file() and name not in REGISTRY["presets"]


@pytest.mark.parametrize("change, message", [
    ({"licence": ""}, "licence"),
    ({"metrics": {"pck": {"value": 0.9}}}, "command"),
    ({"metrics": {"pck": {"value": None}}}, "note"),
    ({"skeleton": "mpii"}, "contradicts"),
])
def test_save_preset_refuses_bad_metadata(trained, tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        save_preset(trained["model"], tmp_path / "p", {**METADATA, **change})
    assert not (tmp_path / "p").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left behind


def test_save_preset_does_not_overwrite_by_default(trained, tmp_path):
    (tmp_path / "p").mkdir()
    with pytest.raises(ValueError, match="overwrite=True"):
        save_preset(trained["model"], tmp_path / "p", METADATA)


def copy_preset(folder, dest):
    dest.mkdir()
    for name in ("config.json", "metadata.json", "model.weights.h5"):
        (dest / name).write_bytes((folder / name).read_bytes())
    return dest


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_cached_entry_is_checked_before_use_and_replaced_from_its_url(trained, cache):
    url, digest = trained["archive"].resolve().as_uri(), trained["sha256"]
    entry = download.fetch(url, sha256=digest, progress=False)
    assert sorted(p.name for p in entry.iterdir()) == [".sha256sums", "config.json", "metadata.json",
                                                        "model.weights.h5"]
    for damage in ("config", "weights", "extra file", "no hashes"):
        if damage == "config":  # a different decoding would load and predict other pixels
            edit_json(entry / "config.json", lambda c: c["config"].update(decoding="authors"))
        elif damage == "weights":
            weights = bytearray((entry / "model.weights.h5").read_bytes())
            weights[len(weights) // 2] ^= 0xFF
            (entry / "model.weights.h5").write_bytes(bytes(weights))
        elif damage == "extra file":
            (entry / "notes.txt").write_text("?")
        else:  # an entry cached before the hashes were recorded
            (entry / ".sha256sums").unlink()
        with pytest.warns(UserWarning, match=re.escape(str(entry)) + ".*downloading it again from " + re.escape(url)):
            model = keras_integral.from_preset(url, sha256=digest, progress=False)
        assert_same_predictions(model, trained)
        assert download.entry_problem(entry) is None and cache_entries(cache) == [digest]


def test_a_preset_folder_with_an_edited_config_is_refused(trained, tmp_path):
    folder = copy_preset(trained["dir"], tmp_path / "edited")
    edit_json(folder / "config.json", lambda c: c["config"].update(decoding="authors"))
    with pytest.raises(ChecksumMismatchError, match=r"config\.json has changed since the preset was saved"):
        keras_integral.from_preset(folder)


def test_weights_and_config_must_match_one_to_one(trained, tmp_path):
    """A weights file with a layer more than the config's model (Keras alone loads it without a word)."""
    folder = copy_preset(trained["dir"], tmp_path / "mismatch")
    smaller = IntegralPoseModel(backbone="mobilenetv3_small", method="I1", skeleton="coco", input_size=SIZE,
                                head_filters=32, heatmap_size=(8, 8))  # one deconvolution less
    (folder / "config.json").write_text(json.dumps(keras.saving.serialize_keras_object(smaller)))
    edit_json(folder / "metadata.json", lambda m: m.pop("config_sha256", None))  # as a preset saved before it existed
    bigger = len(trained["model"].weights)
    with pytest.raises(ValueError, match=rf"holds {bigger} variables, the model .* has {len(smaller.weights)}: "
                                         r"they do not match one to one"):
        keras_integral.from_preset(folder)


def zeros_member(name, size):
    return tarfile.TarInfo(name), bytes(size)


@pytest.mark.parametrize("members, message", [
    ([file_member("preset/config.json"), zeros_member("preset/model.weights.h5", 64 << 20)],
     r"declare \d+ bytes or more, over 8 times"),  # 64 MiB of zeros in a ~65 KB archive
    ([file_member(f"preset/{i}.json") for i in range(download.MAX_MEMBERS + 1)], "more than 64 members"),
    ([file_member(".")], r"member '\.' is a file without a name"),
    ([file_member("preset/config.json"), file_member("preset/config.json/x")], "collides"),
    ([file_member("preset"), file_member("preset/config.json")], "collides"),
    ([file_member("preset/config.json"), file_member("preset/config.json")], "collides"),
], ids=["bomb", "too-many-members", "dot", "file-then-folder", "folder-over-file", "twice"])
def test_malformed_archives_are_refused_before_writing(members, message, tmp_path, cache):
    archive = write_tar(tmp_path / "bad.tar.gz", members)
    with pytest.raises(UnsafeArchiveError, match=message):
        keras_integral.from_preset(archive.as_uri(), progress=False)
    assert cache_entries(cache) == []
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match=message):
        download.safe_extract(archive, dest)
    assert not any(dest.iterdir())


def test_declared_sizes_over_the_bound_are_refused_before_reading_them(tmp_path, cache):
    info = tarfile.TarInfo("preset/model.weights.h5")
    info.size = 1 << 30  # the header claims 1 GiB; the data is not even there
    archive = tmp_path / "claims.tar.gz"
    with gzip.open(archive, "wb") as f:
        f.write(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(4096))
    with pytest.raises(UnsafeArchiveError, match=r"declare \d+ bytes or more, over 8 times"):
        keras_integral.from_preset(archive.as_uri(), progress=False)
    assert cache_entries(cache) == []


def test_a_bomb_after_the_last_member_is_refused(tmp_path, cache):
    tar = gzip.decompress(write_tar(tmp_path / "small.tar.gz", [file_member("preset/config.json")]).read_bytes())
    archive = tmp_path / "trailing.tar.gz"
    with gzip.open(archive, "wb") as f:  # the tar, then 64 MiB more in the same gzip stream
        f.write(tar + bytes(64 << 20))
    with pytest.raises(UnsafeArchiveError, match="after its last member"):
        keras_integral.from_preset(archive.as_uri(), progress=False)
    assert cache_entries(cache) == []


def test_a_damaged_archive_is_not_cached(trained, tmp_path, cache):
    data = bytearray(trained["archive"].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"damaged\.tar\.gz is not a complete \.tar\.gz archive"):
        keras_integral.from_preset(damaged.as_uri(), progress=False)
    assert cache_entries(cache) == []


def test_stale_temporaries_of_killed_downloads_are_removed(trained, cache):
    cache.mkdir(parents=True)
    old = time.time() - 2 * download.STALE_AFTER_S
    (cache / ".download-killed.tar.gz").write_bytes(b"partial")
    (cache / ".extract-killed").mkdir()
    (cache / ".extract-killed" / "model.weights.h5").write_bytes(b"half")
    for path in (cache / ".download-killed.tar.gz", cache / ".extract-killed" / "model.weights.h5",
                 cache / ".extract-killed"):
        os.utime(path, (old, old))
    (cache / ".download-running.tar.gz").write_bytes(b"being written now")
    download.fetch(trained["archive"].resolve().as_uri(), sha256=trained["sha256"], progress=False)
    assert cache_entries(cache) == [".download-running.tar.gz", trained["sha256"]]


def test_the_crop_margin_travels_in_the_preset_and_older_presets_load_with_the_default(trained, tmp_path):
    model = IntegralPoseModel(backbone="mobilenetv3_small", method="I1", skeleton="coco", input_size=SIZE,
                              head_filters=32, crop_margin=1.5)
    folder = save_preset(model, tmp_path / "margin", METADATA)
    assert json.loads((folder / "config.json").read_text())["config"]["crop_margin"] == 1.5
    assert json.loads((folder / "metadata.json").read_text())["crop_margin"] == 1.5
    assert keras_integral.from_preset(folder).crop_margin == 1.5
    # A preset saved before the key existed: no crop_margin in its config (nor a config hash).
    old = copy_preset(trained["dir"], tmp_path / "old")
    edit_json(old / "config.json", lambda c: c["config"].pop("crop_margin"))
    edit_json(old / "metadata.json", lambda m: (m.pop("config_sha256"), m.pop("crop_margin")))
    loaded = keras_integral.from_preset(old)
    assert loaded.crop_margin == 1.25
    assert_same_predictions(loaded, trained)

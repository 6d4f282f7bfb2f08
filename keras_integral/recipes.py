"""Recipes: one flat YAML per experiment, validated on load.

A recipe maps one to one onto the data loaders, `IntegralPoseModel` and the
training loop: no inheritance, no string registry. Paths are relative to the
data directory given at run time (`--data-dir`), so one recipe serves every
machine. `paper` records the number of the paper this recipe reproduces.

Example (`recipes/paper/mpii_resnet50_i1.yaml`):

```yaml
paper: "Table 1, I1, ResNet-50, MPII val: PCKh@0.5 87.3, PCKh@0.1 29.3, AUC 58.3"
dataset: mpii
train_annotations: annot/train.json
train_images: images
val_annotations: annot/valid.json
val_images: images
backbone: resnet50
method: I1
skeleton: mpii
input_size: [256, 256]
heatmap_size: [32, 32]
batch_size: 128
epochs: 140
lr_drops: [90, 120]
phase_switch_epoch: 70
```

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "r.yaml")
>>> _ = open(path, "w").write("dataset: coco\\ntrain_annotations: a.json\\ntrain_images: img\\nmethod: H1\\n")
>>> load_recipe(path).method
'H1'
"""

import dataclasses
import math
import os

import yaml

from keras_integral import methods
from keras_integral import skeletons
from keras_integral.data.transforms import CROP_MARGIN

DATASETS = ("coco", "mpii", "h36m")
MIX_DATASETS = ("mpii", "coco")


@dataclasses.dataclass
class Recipe:
    """A training + evaluation experiment. Field names are the YAML keys."""

    # What it reproduces (free text: table, row, metric and value).
    paper: str | None = None
    # Data, relative to the data directory.
    dataset: str = "coco"
    train_annotations: str = ""
    train_images: str = ""
    val_annotations: str | None = None
    val_images: str | None = None
    val_detections: str | None = None  # COCO: person boxes for testing
    val_head_boxes: str | None = None  # MPII: gt_valid.mat, head boxes of val_annotations (PCKh)
    cameras: str | None = None  # H36M with .npz annotations: cameras.json
    protocol: int | None = None  # H36M: 1 or 2
    test_stride: int = 64  # H36M: every n-th frame for testing
    mix_dataset: str | None = None  # strategy 2: 2D data mixed into 3D batches
    mix_annotations: str | None = None
    mix_images: str | None = None
    mix_fraction: float = 0.5  # share of each batch taken from mix_dataset
    max_train_records: int | None = None  # subsample (seeded) for quick runs
    max_val_records: int | None = None
    # Model: IntegralPoseModel arguments.
    backbone: str = "resnet50"  # a name, or "keras_hub:<preset>"
    backbone_weights: str | None = None  # "imagenet", or a .pth / .weights.h5 path (as given, not under --data-dir)
    method: str = "I1"
    skeleton: str = "coco"
    input_size: tuple = (256, 256)
    heatmap_size: tuple | None = None
    depth_bins: int | None = None
    two_step: bool = False
    depth_range_mm: float = 2000.0
    joint_loss: str = "l1"
    head_filters: int = 256
    integral_scale: float = 1.0  # integral methods: logits times this before the softmax (1: Eq. 2)
    crop_margin: float = CROP_MARGIN  # person box enlargement of every crop, saved with the model
    num_stages: int = 1  # > 1: the multi-stage model (MS-H1, MS-I1; Table 4)
    # Training.
    batch_size: int = 32  # global, split across replicas
    epochs: int = 140
    steps_per_epoch: int | None = None  # default: one pass over the training records
    learning_rate: float = 1e-3
    lr_drops: tuple = ()  # epochs at which the learning rate is multiplied by 0.1
    lr_schedule: str = "step"  # "step" (lr_drops) or "cosine" (warm-up, then a cosine; lr_drops unused)
    phase_switch_epoch: int | None = None  # I1-I3: heat-map loss before, joint loss from here
    seed: int = 0
    jit_compile: bool = False
    # Mixed precision: "float16" (GPUs) or "bfloat16" (CPUs with AVX-512 BF16 / AMX, TPUs);
    # variables, the integral and the losses stay float32.
    mixed_precision: str | None = None
    sync_batchnorm: bool = True  # batch statistics over the global batch on several replicas
    augmentation: str = "paper"  # a name in training.AUGMENTATIONS: "paper", "flip" or "none"
    # Evaluation.
    validate: bool = True  # the validation records after every epoch (val_loss; best.keras monitors it)
    flip_test: bool = True  # `keras-integral evaluate` averages with the mirrored crop (--no-flip overrides)

    @property
    def model_kwargs(self):
        """The `IntegralPoseModel` constructor arguments."""
        return dict(
            backbone=self.backbone, backbone_weights=self.backbone_weights, method=self.method,
            skeleton=self.skeleton,
            input_size=tuple(self.input_size),
            heatmap_size=tuple(self.heatmap_size) if self.heatmap_size else None,
            depth_bins=self.depth_bins, two_step=self.two_step, depth_range_mm=self.depth_range_mm,
            joint_loss=self.joint_loss, head_filters=self.head_filters, integral_scale=self.integral_scale,
            crop_margin=self.crop_margin,
            **({"num_stages": self.num_stages} if self.num_stages > 1 else {}),
        )


_FIELDS = {f.name: f for f in dataclasses.fields(Recipe)}
_CHOICES = {
    "dataset": DATASETS,
    "mix_dataset": MIX_DATASETS + (None,),
    "skeleton": skeletons.SKELETON_NAMES,
    "joint_loss": ("l1", "l2"),
    "protocol": (1, 2, None),
    "mixed_precision": ("float16", "bfloat16", None),
    "augmentation": ("paper", "flip", "none"),
    "lr_schedule": ("step", "cosine"),
}


def _fail(source, key, message):
    raise ValueError(f"{source}: key {key!r}: {message}")


def _check_type(source, key, value):
    field_type = str(_FIELDS[key].type)
    if value is None:
        if "None" not in field_type:
            _fail(source, key, "must not be null.")
        return None
    if key in ("input_size", "heatmap_size"):
        if not (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(v, int) and v > 0 for v in value)):
            _fail(source, key, f"expected [height, width] of positive ints, got {value!r}.")
        return tuple(value)
    if key == "lr_drops":
        if not (isinstance(value, (list, tuple)) and all(isinstance(v, int) and v > 0 for v in value)
                and list(value) == sorted(value)):
            _fail(source, key, f"expected an increasing list of positive epoch numbers, got {value!r}.")
        return tuple(value)
    if "bool" in field_type:
        if not isinstance(value, bool):
            _fail(source, key, f"expected true or false, got {value!r}.")
    elif "float" in field_type:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(source, key, f"expected a number, got {value!r}.")
        value = float(value)
    elif "int" in field_type:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(source, key, f"expected an integer, got {value!r}.")
    elif "str" in field_type and not isinstance(value, str):
        _fail(source, key, f"expected a string, got {value!r}.")
    return value


def recipe_from_dict(values, source="<recipe>"):
    """Builds and validates a `Recipe` from a dict; errors name the key, the source and the allowed values."""
    if not isinstance(values, dict):
        raise ValueError(f"{source}: a recipe must be a mapping of keys to values, got {type(values).__name__}.")
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ValueError(f"{source}: unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(_FIELDS))}.")
    checked = {key: _check_type(source, key, value) for key, value in values.items()}
    for key, choices in _CHOICES.items():
        if key in checked and checked[key] not in choices:
            _fail(source, key, f"{checked[key]!r} is not one of {[c for c in choices if c is not None]}.")
    recipe = Recipe(**checked)
    is_3d = recipe.depth_bins is not None
    allowed = methods.METHODS_3D if is_3d else methods.METHODS_2D
    if recipe.method not in allowed:
        _fail(source, "method", f"{recipe.method!r} is not one of {list(allowed)} ({'3D' if is_3d else '2D'}).")
    for key in ("train_annotations", "train_images"):
        if not getattr(recipe, key):
            _fail(source, key, "is required (a path relative to the data directory).")
    # The authors' annot folder and .pkl cache carry their calibration; the npz needs a camera file.
    if recipe.dataset == "h36m" and not recipe.cameras and recipe.train_annotations.lower().endswith(".npz"):
        _fail(source, "cameras", "is required for dataset h36m with .npz annotations "
                                 "(cameras.json relative to the data directory).")
    if recipe.val_head_boxes and recipe.dataset != "mpii":
        _fail(source, "val_head_boxes", f"applies to dataset mpii only, not {recipe.dataset!r}.")
    if recipe.mix_dataset and not (recipe.mix_annotations and recipe.mix_images):
        _fail(source, "mix_annotations", "mix_dataset needs mix_annotations and mix_images.")
    if not 0.0 < recipe.mix_fraction < 1.0:
        _fail(source, "mix_fraction", f"must be between 0 and 1, got {recipe.mix_fraction}.")
    if recipe.num_stages < 1:
        _fail(source, "num_stages", f"must be at least 1, got {recipe.num_stages}.")
    _check_training_numbers(source, recipe)
    return recipe


def _check_training_numbers(source, recipe):
    """Numbers that would otherwise hang, crash late or train nothing."""
    for key in ("epochs", "batch_size", "steps_per_epoch", "test_stride", "max_train_records", "max_val_records"):
        value = getattr(recipe, key)
        if value is not None and value < 1:
            _fail(source, key, f"must be at least 1, got {value}.")
    for key in ("learning_rate", "crop_margin"):
        value = getattr(recipe, key)
        if not (math.isfinite(value) and value > 0):
            _fail(source, key, f"must be a finite number > 0, got {value}.")
    switch = recipe.phase_switch_epoch
    if switch is not None:
        if not methods.get(recipe.method).two_phase:
            two_phase = [m.name for m in methods.METHODS.values() if m.two_phase]
            _fail(source, "phase_switch_epoch", f"applies to {', '.join(two_phase)} only, not {recipe.method!r}.")
        if not 1 <= switch < recipe.epochs:
            _fail(source, "phase_switch_epoch",
                  f"must be between 1 and epochs - 1 = {recipe.epochs - 1} (the epoch the joint-loss phase "
                  f"starts at), got {switch}.")


def load_recipe(path, **overrides):
    """Reads a recipe YAML file; `overrides` (e.g. `epochs=1`) replace its values.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: an unknown key or a bad value, naming the key, the file
            and the allowed values.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Recipe file not found: {path}")
    with open(path) as f:
        try:
            values = yaml.safe_load(f) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML: {error}") from None
    if isinstance(values, dict):
        values.update({k: v for k, v in overrides.items() if v is not None})
    return recipe_from_dict(values, source=path)


def dump_recipe(recipe, path):
    """Writes `recipe` as YAML (all keys, so a run's folder records exactly what ran)."""
    values = _plain(dataclasses.asdict(recipe))
    with open(path, "w") as f:
        yaml.safe_dump(values, f, sort_keys=False)


def recipe_differences(recipe, path):
    """The keys in which `recipe` differs from the recipe YAML at `path` (a run folder's `recipe.yaml`).

    A key the file lacks counts only when `recipe` does not hold its default
    (a run written before that key existed trained with the default).

    Returns:
        list of `(key, value in the file, value in recipe)`, in field order.
    """
    with open(path) as f:
        try:
            stored = yaml.safe_load(f) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(stored, dict):
        raise ValueError(f"{path}: expected a recipe mapping, got {type(stored).__name__}.")
    current = _plain(dataclasses.asdict(recipe))
    defaults = _plain(dataclasses.asdict(Recipe()))
    differences = []
    for key, value in current.items():
        old = stored.get(key, defaults[key])
        if old != value:
            differences.append((key, old, value))
    differences += [(key, stored[key], None) for key in stored if key not in current]
    return differences


def _plain(values):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

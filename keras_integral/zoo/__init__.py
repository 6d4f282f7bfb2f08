"""The model zoo: presets (save, pack, load from a name, folder or URL), the registry, the converter.

| file | what |
|---|---|
| `load.py` | `from_preset`: a registry name, a preset folder or a URL -> the model |
| `preset.py` | `save_preset`, `load_preset`, `pack_preset` |
| `registry.py`, `presets.json` | names, upstream sources, licences, reported metrics; `download` converts |
| `convert_mmpose.py` | MMPose's integral-regression checkpoints -> a preset |
| `convert_official.py` | the authors' PyTorch checkpoints -> a preset |

The zoo imports the models, never the other way. What both use lives
below both: the cache (`keras_integral/download.py`: `$KERAS_INTEGRAL_HOME`,
SHA-256, safe atomic extraction and placement), `torch.save` files read
without torch (`keras_integral/pth.py`), and torchvision's ImageNet ResNet
checkpoints -> `ResNetBackbone` (`models/backbones/torchvision.py`).

The CLI (`keras-integral zoo list | download | info | convert`) calls
`registry.list_presets()`, `registry.download(name)`, `registry.info(name)`
and `registry.convert_file(path, out_dir, like)`.

Example:

>>> import keras_integral
>>> model = keras_integral.from_preset("path/to/preset_dir")  # doctest: +SKIP
"""

# The cache's errors, where a zoo user looks for them.
from keras_integral.download import ChecksumMismatchError  # noqa: F401
from keras_integral.download import PresetUnavailableError  # noqa: F401
from keras_integral.download import UnsafeArchiveError  # noqa: F401
from keras_integral.download import WeightsUnavailableError  # noqa: F401
from keras_integral.zoo.load import from_preset  # noqa: F401
from keras_integral.zoo.preset import load_preset  # noqa: F401
from keras_integral.zoo.preset import pack_preset  # noqa: F401
from keras_integral.zoo.preset import save_preset  # noqa: F401
from keras_integral.zoo.registry import info  # noqa: F401
from keras_integral.zoo.registry import list_presets  # noqa: F401

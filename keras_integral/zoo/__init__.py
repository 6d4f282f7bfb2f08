"""The model zoo: presets (save, pack, load from a name, folder or URL), the registry, the converter.

| file | what |
|---|---|
| `preset.py` | `save_preset`, `load_preset`, `pack_preset`, `from_preset` |
| `registry.py`, `presets.json` | preset names, URLs, metrics; `list_presets`, `info`, `download` |
| `convert_official.py` | the authors' PyTorch checkpoints -> a preset |

The zoo imports the models, never the other way. What both use lives
below both: the cache (`keras_integral/download.py`: `$KERAS_INTEGRAL_HOME`,
SHA-256, safe atomic extraction and placement), `torch.save` files read
without torch (`keras_integral/pth.py`), and torchvision's ImageNet ResNet
checkpoints -> `ResNetBackbone` (`models/backbones/torchvision.py`).

The CLI (`keras-integral zoo list | download | info | convert`) calls
`registry.list_presets()`, `registry.download(name)`, `registry.info(name)`
and `convert_official.convert(path, out_dir)`.

Example:

>>> import keras_integral
>>> model = keras_integral.from_preset("path/to/preset_dir")  # doctest: +SKIP
"""

# The cache's errors, where a zoo user looks for them.
from keras_integral.download import ChecksumMismatchError  # noqa: F401
from keras_integral.download import PresetUnavailableError  # noqa: F401
from keras_integral.download import UnsafeArchiveError  # noqa: F401
from keras_integral.download import WeightsUnavailableError  # noqa: F401
from keras_integral.zoo.preset import from_preset  # noqa: F401
from keras_integral.zoo.preset import load_preset  # noqa: F401
from keras_integral.zoo.preset import pack_preset  # noqa: F401
from keras_integral.zoo.preset import save_preset  # noqa: F401
from keras_integral.zoo.registry import info  # noqa: F401
from keras_integral.zoo.registry import list_presets  # noqa: F401

"""The paper's methods as data: one frozen record per method (section 3, Tables 1-3 and 6-9).

Every part of the library that depends on the method reads this table: the
model's graph (head, decoding, scores), the loss routing (which loss in which
phase), the recipes (which keys apply), training (the phase switch) and
export (which layer int8 keeps in float). Adding a method is adding a row.

| method | head | decoder | heat-map loss | phase 1 | phase 2 | scores |
|---|---|---|---|---|---|---|
| R1 | regression | direct | - | joint | joint | none |
| H1 / H2 / H3 | heat maps | arg-max | Gaussian MSE / one-hot CE / BCE | heat map | heat map | peak / softmax / sigmoid |
| I* | heat maps | integral | - | joint | joint | softmax |
| I1 / I2 / I3 | heat maps | integral | as H1 / H2 / H3 | heat map | joint | softmax |

Example:

>>> from keras_integral import methods
>>> methods.get("I1").losses(phase=2), methods.get("I1").two_phase
(('joint',), True)
>>> [m.name for m in methods.for_dims(3)]
['R1', 'H1', 'H2', 'I*', 'I1', 'I2']
"""  # noqa: E501 (the table)

import dataclasses

HEATMAP_LOSSES = ("H1", "H2", "H3")  # Gaussian MSE, one-hot softmax cross-entropy, BCE within a radius
DECODERS = ("direct", "argmax", "integral")
SCORE_MODES = ("none", "peak", "softmax", "sigmoid")  # see layers.JointConfidence


@dataclasses.dataclass(frozen=True)
class Method:
    """One method of the paper.

    Attributes:
        name: the paper's name (`"I1"`).
        decoder: how keypoints come out of the head: `"direct"` (R1's
            coordinates), `"argmax"` (arg-max + quarter-cell shift) or
            `"integral"` (the soft-argmax, Eq. 2-6).
        heatmap_loss: `"H1"`, `"H2"`, `"H3"` or None: the heat-map loss the
            method trains with in the phases that use one.
        phase_losses: the losses of phase 1 and of phase 2, each a tuple of
            `"heatmap"` / `"joint"`. Methods with one phase list it twice.
        score_mode: the `JointConfidence` mode of the scores; `"none"`: all 1.
        dims: the keypoint dimensions the method supports, `(2,)` or `(2, 3)`.
        description: one line for tables and errors.
    """

    name: str
    decoder: str
    heatmap_loss: str | None
    phase_losses: tuple
    score_mode: str
    dims: tuple
    description: str

    def __post_init__(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"Method {self.name}: decoder {self.decoder!r} not one of {DECODERS}.")
        if self.heatmap_loss not in (None, *HEATMAP_LOSSES):
            raise ValueError(f"Method {self.name}: heatmap_loss {self.heatmap_loss!r} not one of {HEATMAP_LOSSES}.")
        if self.score_mode not in SCORE_MODES:
            raise ValueError(f"Method {self.name}: score_mode {self.score_mode!r} not one of {SCORE_MODES}.")
        uses_heatmaps = any("heatmap" in losses for losses in self.phase_losses)
        if len(self.phase_losses) != 2 or uses_heatmaps != (self.heatmap_loss is not None):
            raise ValueError(f"Method {self.name}: phase_losses {self.phase_losses} do not match "
                             f"heatmap_loss {self.heatmap_loss!r}.")

    @property
    def head(self):
        """`"regression"` (pool + FC to coordinates) or `"heatmaps"` (deconvolutions to maps)."""
        return "regression" if self.decoder == "direct" else "heatmaps"

    @property
    def two_phase(self):
        """Whether the loss changes between phase 1 and phase 2 (I1-I3: the recipe's phase switch)."""
        return self.phase_losses[0] != self.phase_losses[1]

    @property
    def outputs_heatmaps(self):
        """Whether the model returns its maps for a heat-map loss (in some phase)."""
        return self.heatmap_loss is not None

    def losses(self, phase):
        """The losses of `phase` (1 or 2): a tuple of `"heatmap"` / `"joint"`."""
        return self.phase_losses[phase - 1]


_HEATMAP = ("heatmap",)
_JOINT = ("joint",)
METHODS = {m.name: m for m in (
    Method("R1", "direct", None, (_JOINT, _JOINT), "none", (2, 3), "direct regression: pool + FC, joint L1"),
    Method("H1", "argmax", "H1", (_HEATMAP, _HEATMAP), "peak", (2, 3), "heat maps, Gaussian MSE, arg-max"),
    Method("H2", "argmax", "H2", (_HEATMAP, _HEATMAP), "softmax", (2, 3), "heat maps, one-hot softmax CE, arg-max"),
    Method("H3", "argmax", "H3", (_HEATMAP, _HEATMAP), "sigmoid", (2,), "heat maps, BCE within 15 px, arg-max"),
    Method("I*", "integral", None, (_JOINT, _JOINT), "softmax", (2, 3), "integral, joint L1 only"),
    Method("I1", "integral", "H1", (_HEATMAP, _JOINT), "softmax", (2, 3), "integral, H1 loss then joint L1"),
    Method("I2", "integral", "H2", (_HEATMAP, _JOINT), "softmax", (2, 3), "integral, H2 loss then joint L1"),
    Method("I3", "integral", "H3", (_HEATMAP, _JOINT), "softmax", (2,), "integral, H3 loss then joint L1"),
)}


def for_dims(dims):
    """The methods that support `dims` (2 or 3) keypoint dimensions, in table order."""
    return tuple(m for m in METHODS.values() if dims in m.dims)


def get(name, dims=None):
    """The `Method` named `name` (for `dims` 2 or 3, when given); a ValueError lists the allowed names."""
    method = METHODS.get(name)
    if method is None or (dims is not None and dims not in method.dims):
        allowed = tuple(m.name for m in (for_dims(dims) if dims else METHODS.values()))
        kind = f"{dims}D " if dims else ""
        raise ValueError(f"Unknown {kind}method {name!r}; expected one of {allowed}.")
    return method


METHODS_2D = tuple(m.name for m in for_dims(2))
METHODS_3D = tuple(m.name for m in for_dims(3))

"""Scene difficulty levels: what a synthetic image holds besides the person."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Difficulty:
    """What a scene holds besides the person: one row of `LEVELS`.

    Args:
        clutter: background shapes (rectangles, ellipses, lines, polygons)
            over the smooth gradient.
        distractors: look-alikes in the background: limb-like capsules
            (half of them skin-coloured) and dots the size of the joint markers.
        occluder_probability: share of images with one or two occluders in
            front of the person.
        blur: Gaussian blur (sigma 0.3-1.2 px) in 40 % of the images.
        noise: additive Gaussian noise (sigma up to 8 levels).
    """

    clutter: bool
    distractors: bool
    occluder_probability: float
    blur: bool
    noise: bool


# Every level draws the same random numbers and leaves things out, so image i
# shows the same person, pose, camera and background colours at every level.
LEVELS = {
    "easy": Difficulty(clutter=False, distractors=False, occluder_probability=0.0, blur=False, noise=False),
    "medium": Difficulty(clutter=True, distractors=False, occluder_probability=0.2, blur=True, noise=True),
    "hard": Difficulty(clutter=True, distractors=True, occluder_probability=0.45, blur=True, noise=True),
}


def difficulty_of(level):
    """The `Difficulty` of a level name; a name not in `LEVELS` is a `ValueError`."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {tuple(LEVELS)}, got {level!r}.")
    return LEVELS[level]

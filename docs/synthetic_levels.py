"""Writes docs/synthetic_levels.jpg: the same synthetic people at each scene difficulty level.

    python docs/synthetic_levels.py

Columns: easy, medium, hard (`keras_integral.data.synthetic.LEVELS`); rows:
images 1-3 of seed 0 at 128x128, as `keras-integral synth --level ...` draws them.
"""

import os

import cv2
import numpy as np

from keras_integral.data import synthetic

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = (128, 128)
ROWS = 3
LABEL_PX = 18


def main():
    cameras = synthetic.make_cameras(0, SIZE)
    columns = []
    for level in synthetic.LEVELS:
        tiles = []
        for i in range(ROWS):  # as generate() draws image i
            rng = np.random.default_rng([0, 1, i])
            subject = synthetic.SUBJECTS[i % len(synthetic.SUBJECTS)]
            camera_id = synthetic.CAMERA_IDS[rng.integers(len(synthetic.CAMERA_IDS))]
            action = synthetic.ACTIONS[rng.choice(len(synthetic.ACTIONS), p=synthetic.ACTION_WEIGHTS)]
            scene = synthetic.sample_scene(rng, cameras[f"{subject}_{camera_id}"], action, level)
            tiles.append(synthetic.render_scene(scene)["image"])
        label = np.full((LABEL_PX, SIZE[1], 3), 255, np.uint8)
        cv2.putText(label, level, (4, LABEL_PX - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        columns.append(np.concatenate([label, *tiles], axis=0))
    gap = np.full((columns[0].shape[0], 4, 3), 255, np.uint8)
    figure = np.concatenate([c for column in columns for c in (column, gap)][:-1], axis=1)
    path = os.path.join(HERE, "synthetic_levels.jpg")
    cv2.imwrite(path, figure[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(path)


if __name__ == "__main__":
    main()

"""Video in and out through OpenCV: frames as RGB arrays, written whole or not at all.

`open_video` opens a file or a camera (an integer index) and says in one line
what is wrong when it cannot; `read_frames` yields its frames as `(H, W, 3)`
uint8 RGB; `VideoFileWriter` writes frames under a temporary name beside the
target and renames it into place only when closed normally, so a failed or
killed run leaves no video that looks complete.

Example:

>>> capture, info = open_video("clip.mp4")                     # doctest: +SKIP
>>> with VideoFileWriter("out.mp4", info["fps"]) as writer:     # doctest: +SKIP
...     for frame in read_frames(capture):
...         writer.write(frame)
"""

import os

import cv2
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def is_video(path):
    """Whether a path names a video by its extension (or is a camera index such as `0`)."""
    return str(path).isdigit() or os.path.splitext(str(path))[1].lower() in VIDEO_EXTENSIONS


def open_video(source):
    """An open `cv2.VideoCapture` and `{"fps", "frames", "width", "height", "camera"}` of a file or camera.

    Args:
        source: a video file path, or a camera index (int, or a string of digits).

    Raises:
        FileNotFoundError: no such file.
        ValueError: OpenCV cannot open or decode it, or it has no frames.
    """
    camera = isinstance(source, int) or str(source).isdigit()
    if camera:
        capture = cv2.VideoCapture(int(source))
        if not capture.isOpened():
            raise ValueError(f"Cannot open camera {int(source)} (no such camera on this machine, or in use).")
    else:
        if not os.path.isfile(source):
            raise FileNotFoundError(f"Video not found: {source}")
        capture = cv2.VideoCapture(os.fspath(source))
        if not capture.isOpened():
            raise ValueError(f"Cannot read video {source!r}: OpenCV cannot open it (not a video, or an unknown codec).")
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise ValueError(f"Video {source!r} has no frames OpenCV can decode.")
    info = {
        "fps": float(capture.get(cv2.CAP_PROP_FPS)) or 30.0,
        "frames": None if camera else int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None,
        "width": first.shape[1], "height": first.shape[0], "camera": camera, "first": first,
    }
    if not np.isfinite(info["fps"]) or info["fps"] <= 0 or info["fps"] > 1000:
        info["fps"] = 30.0
    return capture, info


def read_frames(capture, info, limit=None):
    """Yields the frames of an `open_video` capture as `(H, W, 3)` uint8 RGB, the first one included."""
    frame, count = info["first"], 0
    try:
        while frame is not None and (limit is None or count < limit):
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            count += 1
            ok, frame = capture.read()
            frame = frame if ok else None
    finally:
        capture.release()


class VideoFileWriter:
    """Writes RGB frames to a video file through a temporary name, renamed into place by `close()`.

    Args:
        path: output file; its extension picks the codec (`.mp4`: mp4v, `.avi`: MJPG).
        fps: frames per second.

    Use as a context manager: leaving it by an exception removes the
    temporary file and leaves `path` as it was.
    """

    @staticmethod
    def check_extension(path):
        """The codec of a video path's extension, or a one-line ValueError."""
        extension = os.path.splitext(os.fspath(path))[1].lower()
        if extension not in _FOURCC:
            raise ValueError(f"--out {os.fspath(path)!r}: cannot write video with extension {extension!r}; use one "
                             f"of {sorted(_FOURCC)}.")
        return _FOURCC[extension]

    def __init__(self, path, fps):
        extension = os.path.splitext(os.fspath(path))[1].lower()
        self.check_extension(path)
        self.path, self.fps, self.fourcc = os.fspath(path), float(fps), _FOURCC[extension]
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        stem = os.path.basename(self.path)
        self.temporary = os.path.join(directory, f".{stem}.{os.getpid()}.partial{extension}")
        self.writer, self.count = None, 0

    def write(self, frame):
        frame = np.asarray(frame)
        if self.writer is None:
            self.size = (frame.shape[1], frame.shape[0])
            self.writer = cv2.VideoWriter(self.temporary, cv2.VideoWriter_fourcc(*self.fourcc), self.fps, self.size)
            if not self.writer.isOpened():
                raise ValueError(f"OpenCV cannot write a {self.fourcc} video to {self.path!r}.")
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f"frame {self.count} is {frame.shape[1]}x{frame.shape[0]}, the video {self.size}.")
        self.writer.write(cv2.cvtColor(np.ascontiguousarray(frame, np.uint8), cv2.COLOR_RGB2BGR))
        self.count += 1

    def close(self):
        """Finishes the file and renames it into place; returns the number of frames written."""
        if self.writer is None:
            raise ValueError(f"No frames were written to {self.path!r}.")
        self.writer.release()
        os.replace(self.temporary, self.path)
        return self.count

    def discard(self):
        if self.writer is not None:
            self.writer.release()
        if os.path.exists(self.temporary):
            os.remove(self.temporary)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self.discard()
        return False


def count_frames(path):
    """The number of frames of a video file, counted by decoding them all (the header can be wrong)."""
    capture = cv2.VideoCapture(os.fspath(path))
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count

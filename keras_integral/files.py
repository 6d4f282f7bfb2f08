"""Files written whole or not at all: JSON and text.

A file is written to a temporary name beside it, flushed to disk and renamed
over the target (`os.replace`, atomic on POSIX and Windows), so a reader, or a
run killed mid-write, sees either the old file or the new one, never half.
"""

import json
import os


def write_text(path, text):
    """Writes `text` (UTF-8) to `path` atomically."""
    path = os.fspath(path)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_json(path, data, **dump_kwargs):
    """Writes `data` as JSON (`json.dumps(data, **dump_kwargs)` and a newline) to `path` atomically."""
    write_text(path, json.dumps(data, **dump_kwargs) + "\n")

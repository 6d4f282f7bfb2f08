"""The cache: download a preset `.tar.gz` or a weights file, verify its SHA-256, place it atomically.

A leaf module (nothing of keras_integral imported): the zoo's presets and
the backbones' ImageNet checkpoints both come through it.

Layout of the cache (`$KERAS_INTEGRAL_HOME`, default `~/.cache/keras_integral`):

    presets/<sha256 of the archive>/   config.json, model.weights.h5, metadata.json,
                                       .sha256sums (each file's hash, checked before every use)
    presets/.download-*, .extract-*    work in progress; never read, removed on failure
    torchvision/<file name>            torchvision's ImageNet checkpoints (`fetch_file`)

An entry appears only by renaming a fully downloaded, verified and extracted
folder into place, so an interrupted download (killed process, lost
connection, truncated file) never leaves a half-written entry behind; what a
killed process leaves (`.download-*`, `.extract-*`) is removed by the next
fetch once nothing has written to it for `STALE_AFTER_S`. An archive is
accepted only when its gzip stream reads to the end (CRC checked), it has
at most `MAX_MEMBERS` members, their sizes add up to at most
`MAX_EXPANSION` times the archive's own (weights barely compress), and no
two members claim the same path. A cached entry whose files no longer match
its `.sha256sums` is downloaded again from its URL.

Example:

>>> from keras_integral import download
>>> preset_dir = download.fetch("file:///tmp/my_preset.tar.gz")  # doctest: +SKIP
"""

import gzip
import hashlib
import http.client
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zlib
from pathlib import Path
from pathlib import PurePosixPath

import keras

URL_SCHEMES = ("https://", "file://")
_CHUNK_BYTES = 1 << 20
_TIMEOUT_S = 60
# A preset is 3 files (and a folder); weights compress by ~1.1x, json more, hence the slack.
MAX_MEMBERS = 64
MAX_EXPANSION = 8
_EXPANSION_SLACK_BYTES = 1 << 20
# Ten times the read timeout: a live download writes at least once per timeout.
STALE_AFTER_S = 10 * _TIMEOUT_S
_TEMPORARY_PREFIXES = (".download-", ".extract-")
ENTRY_HASHES = ".sha256sums"


class PresetUnavailableError(RuntimeError):
    """A preset's files cannot be obtained: not published yet, or the URL is unreachable."""


class ChecksumMismatchError(ValueError):
    """A file's SHA-256 differs from the expected one; the file is not used."""


class WeightsUnavailableError(PresetUnavailableError):
    """Pretrained weights are neither in the cache nor downloadable; the message says where to put them."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the extraction folder, is not a plain file, collides
    with another member, or the archive would expand far beyond its own size (a decompression bomb)."""


def cache_dir():
    """The cache root: `$KERAS_INTEGRAL_HOME`, or `~/.cache/keras_integral`.

    Returns:
        `pathlib.Path` (not created here).

    Example:

    >>> cache_dir()  # doctest: +SKIP
    PosixPath('/home/me/.cache/keras_integral')
    """
    root = os.environ.get("KERAS_INTEGRAL_HOME") or os.path.join("~", ".cache", "keras_integral")
    return Path(root).expanduser()


def sha256_file(path):
    """SHA-256 of a file, as 64 lowercase hex digits.

    Args:
        path: file to hash.

    Example:

    >>> sha256_file("model.weights.h5")  # doctest: +SKIP
    '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(value, arg="sha256"):
    """Validates an expected SHA-256 (64 hex digits) and returns it in lower case; None passes."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"`{arg}` must be 64 hexadecimal digits (a SHA-256), received {value!r}.")
    return text


def fetch(url, sha256=None, progress=True):
    """Downloads a preset archive into the cache and returns its extracted folder.

    With `sha256` given and already cached, nothing is downloaded, once the
    entry's files match the hashes recorded when it was extracted; an entry
    that does not (edited, damaged) is downloaded again. Without `sha256`,
    the archive is fetched every time (there is nothing to check a cached
    copy against) and cached under its computed hash.

    Args:
        url: `https://...` or `file://...` URL of a `.tar.gz` holding a
            preset (files at the top level or inside one folder).
        sha256: expected SHA-256 of the archive (64 hex digits), or None.
        progress: show a progress bar (bytes).

    Returns:
        `pathlib.Path` of the preset folder in the cache.

    Raises:
        PresetUnavailableError: the URL cannot be reached or the transfer
            stopped early.
        ChecksumMismatchError: the archive's SHA-256 is not `sha256`.
        UnsafeArchiveError: see `safe_extract`.
        ValueError: bad URL scheme or `sha256`; the file is not a complete
            `.tar.gz` (or fails its CRC); it holds no `config.json`.

    Example:

    >>> fetch("file:///data/i1_resnet18_coco_64x64.tar.gz")  # doctest: +SKIP
    PosixPath('/home/me/.cache/keras_integral/presets/3b1f...')
    """
    if not isinstance(url, str) or not url.startswith(URL_SCHEMES):
        raise ValueError(f"`url` must start with one of {URL_SCHEMES}, received {url!r}.")
    sha256 = check_sha256(sha256)
    presets = cache_dir() / "presets"
    remove_stale_temporaries(presets)
    if sha256 and (presets / sha256 / "config.json").is_file():
        problem = entry_problem(presets / sha256)
        if problem is None:
            return presets / sha256
        warnings.warn(f"Cached preset {presets / sha256} {problem}; downloading it again from {url}.", stacklevel=2)
    presets.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".download-", suffix=".tar.gz", dir=presets)
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _copy_url(url, out, progress)
        if sha256 and actual != sha256:
            raise ChecksumMismatchError(
                f"SHA-256 mismatch for {url}: expected {sha256}, downloaded {actual}. "
                "The file was discarded and nothing was cached."
            )
        target = presets / actual
        if not (target / "config.json").is_file() or entry_problem(target) is not None:
            _extract_into_cache(partial, target, url)
        return target
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def fetch_file(url, path, sha256_prefix=None, progress=True):
    """Downloads `url` to `path` once, checking that its SHA-256 starts with `sha256_prefix`.

    A file already at `path` is checked and used, so a file copied there by
    hand works offline. A download goes to a temporary file next to `path`
    and is renamed into place only once complete and verified.

    Args:
        url: `https://...` or `file://...` URL of the file.
        path: where it lives in the cache (e.g. `cache_dir() / "torchvision" /
            "resnet50-0676ba61.pth"`).
        sha256_prefix: the leading hex digits of the file's SHA-256 (all 64
            for a full check), or None.
        progress: show a progress bar (bytes).

    Returns:
        `pathlib.Path` of the verified file.

    Raises:
        WeightsUnavailableError: not cached and not downloadable; the message
            names the URL and the exact path to place the file at by hand.
        ChecksumMismatchError: the download, or the file at `path`, has
            another hash (a download is discarded; nothing is cached).

    Example:

    >>> fetch_file("https://download.pytorch.org/models/resnet18-f37072fd.pth",
    ...            cache_dir() / "torchvision" / "resnet18-f37072fd.pth", "f37072fd")  # doctest: +SKIP
    PosixPath('/home/me/.cache/keras_integral/torchvision/resnet18-f37072fd.pth')
    """
    path = Path(path)
    prefix = (sha256_prefix or "").lower()
    remove_stale_temporaries(path.parent)
    if path.is_file():
        actual = sha256_file(path)
        if not actual.startswith(prefix):
            raise ChecksumMismatchError(
                f"{path}: its SHA-256 {actual} does not start with {prefix}, so it is not the file "
                f"{url}. Delete it (it is downloaded again) or replace it with that file."
            )
        return path
    if not isinstance(url, str) or not url.startswith(URL_SCHEMES):
        raise ValueError(f"`url` must start with one of {URL_SCHEMES}, received {url!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".download-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                actual = _copy_url(url, out, progress)
            except PresetUnavailableError as e:
                raise WeightsUnavailableError(
                    f"{e} Without a network, download {url} elsewhere and place it at {path} "
                    f"(this exact name; its SHA-256 must start with {prefix or 'anything'})."
                ) from e
        if not actual.startswith(prefix):
            raise ChecksumMismatchError(
                f"SHA-256 mismatch for {url}: expected it to start with {prefix}, downloaded "
                f"{actual}. The file was discarded and nothing was cached."
            )
        os.replace(partial, path)
        return path
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _copy_url(url, out, progress):
    """Streams `url` into the open file `out`; returns the SHA-256 of what was written."""
    try:
        response = urllib.request.urlopen(url, timeout=_TIMEOUT_S)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise PresetUnavailableError(
            f"Cannot reach {url}: {getattr(e, 'reason', e)}. Check the address and the network "
            "(machines without internet can use a local preset folder or a file:// URL)."
        ) from e
    digest = hashlib.sha256()
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = keras.utils.Progbar(total, unit_name="byte") if progress else None
        received = 0
        try:
            for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if bar:
                    bar.update(received)
        except (OSError, http.client.HTTPException) as e:
            raise PresetUnavailableError(
                f"Download of {url} stopped after {received} bytes: {e}. Nothing was cached."
            ) from e
    if total is not None and received != total:
        raise PresetUnavailableError(
            f"Download of {url} stopped after {received} of {total} bytes. Nothing was cached."
        )
    return digest.hexdigest()


def _extract_into_cache(archive, target, url):
    """Extracts `archive` into a temporary folder next to `target`, records its files' hashes, then
    renames it into place (moving a damaged entry of the same name out of the way first)."""
    work = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        safe_extract(archive, work, source=url)
        root = _preset_root(work, url)
        files = sorted(p.name for p in root.iterdir())
        if any(not (root / name).is_file() for name in files):
            raise ValueError(f"{url}: a preset holds files only, found {files} in its folder.")
        (root / ENTRY_HASHES).write_text("".join(f"{sha256_file(root / n)}  {n}\n" for n in files), encoding="utf-8")
        if target.exists():  # damaged (the caller checked): replaced, never merged
            os.rename(target, work / ".stale-entry")
        try:
            os.rename(root, target)
        except OSError:
            # Another process finished the same entry first; keep theirs.
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def entry_problem(entry):
    """None if a cache entry's files are exactly those of its `.sha256sums`, with those hashes;
    otherwise what is wrong, as words."""
    entry = Path(entry)
    try:
        lines = (entry / ENTRY_HASHES).read_text(encoding="utf-8").splitlines()
        recorded = dict(reversed(line.split("  ", 1)) for line in lines)
    except (OSError, UnicodeDecodeError, ValueError):
        return f"has no readable {ENTRY_HASHES} (cached by an older version, or damaged)"
    present = sorted(p.name for p in entry.iterdir() if p.name != ENTRY_HASHES)
    if present != sorted(recorded):
        return f"holds {present}, but {ENTRY_HASHES} lists {sorted(recorded)}"
    for name, digest in recorded.items():
        if not (entry / name).is_file() or sha256_file(entry / name) != digest:
            return f"has a {name} that differs from the one extracted (SHA-256 {digest})"
    return None


def remove_stale_temporaries(folder, max_age_s=None):
    """Removes the `.download-*` / `.extract-*` left in `folder` by killed processes.

    A temporary counts as stale once nothing in it was written for
    `max_age_s` (default `STALE_AFTER_S`); younger ones may belong to a
    download running now and are kept.

    Returns:
        The names removed.
    """
    max_age_s = STALE_AFTER_S if max_age_s is None else max_age_s
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    now = time.time()
    for path in folder.iterdir():
        if not path.name.startswith(_TEMPORARY_PREFIXES):
            continue
        try:
            paths = [path, *path.rglob("*")] if path.is_dir() else [path]
            newest = max(p.lstat().st_mtime for p in paths)
            if now - newest < max_age_s:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path.name)
        except OSError:  # gone already (another process cleaned it), or not ours to remove
            continue
    return removed


def safe_extract(archive, dest, source=None):
    """Extracts a `.tar.gz` into `dest`, refusing anything but plain files and folders inside it.

    Everything is checked before anything is written. Refused: absolute
    names, `..` components, links (symbolic or hard), devices/FIFOs, a file
    named `.`, two members on one path (or a file where another member needs
    a folder), more than `MAX_MEMBERS` members, sizes adding up to more than
    `MAX_EXPANSION` times the archive's size, and a gzip stream that does not
    read to its end with the right CRC and length (the tar reader alone stops
    at the tar's end marker, before the CRC). Files are written by copying
    their bytes, never by `tarfile`'s own extraction, so no member can set
    permissions or ownership.

    Args:
        archive: path of the `.tar.gz`.
        dest: existing empty folder to extract into.
        source: name used in error messages (defaults to `archive`).

    Raises:
        UnsafeArchiveError: a member fails the checks, or the archive is a
            decompression bomb (the message names the member or the sizes).
        ValueError: not a complete gzip-compressed tar file, or its CRC fails.

    Example:

    >>> safe_extract("preset.tar.gz", "/tmp/out")  # doctest: +SKIP
    """
    source = source or str(archive)
    dest = Path(dest)
    limit = MAX_EXPANSION * os.path.getsize(archive) + _EXPANSION_SLACK_BYTES
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = _checked_members(tar, limit, source)
            _read_to_end(tar.fileobj, limit, source)
            for member, parts in members:
                path = dest.joinpath(*parts)
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(
            f"{source} is not a complete .tar.gz archive ({type(e).__name__}: {e}); "
            "it may be truncated or damaged. Nothing was cached."
        ) from e


def _read_to_end(stream, limit, source):
    """Decompresses what follows the tar's end marker, at most `limit` bytes: the gzip stream checks
    its CRC and length when it reaches its end, which the tar reader alone never does."""
    total = 0
    for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
        total += len(chunk)
        if total > limit:
            raise UnsafeArchiveError(
                f"{source} holds more than {limit} bytes after its last member, {MAX_EXPANSION} times its "
                "own size (a decompression bomb?); refused, nothing was written."
            )


def _checked_members(tar, limit, source):
    """`[(member, path parts)]` of an archive whose every member passed `_check_member`, whose
    members fit `MAX_MEMBERS` and `limit` bytes, and no two of which claim one path."""
    members, files, folders, total = [], set(), set(), 0
    for member in iter(tar.next, None):
        if len(members) == MAX_MEMBERS:
            raise UnsafeArchiveError(f"{source} has more than {MAX_MEMBERS} members; a preset has 3. Refused.")
        _check_member(member, source)
        parts = PurePosixPath(member.name.replace("\\", "/")).parts
        if not parts:
            if member.isdir():  # "." or "./": the extraction folder itself
                continue
            raise UnsafeArchiveError(f"{source}: member {member.name!r} is a file without a name; refused.")
        total += member.size
        if total > limit:
            raise UnsafeArchiveError(
                f"{source}: its members declare {total} bytes or more, over {MAX_EXPANSION} times the "
                f"archive's size (a decompression bomb?); refused, nothing was written."
            )
        parents = {parts[:i] for i in range(1, len(parts))}
        clash = (parts in files or (member.isfile() and parts in folders)
                 or (member.isdir() and parts in files) or parents & files)
        if clash:
            raise UnsafeArchiveError(
                f"{source}: member {member.name!r} collides with another member of the same path "
                "(twice the same file, or a file and a folder); refused."
            )
        (folders if member.isdir() else files).add(parts)
        folders |= parents
        members.append((member, parts))
    return members


def _check_member(member, source):
    name = member.name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise UnsafeArchiveError(f"{source}: member {name!r} has an absolute path; refused.")
    if ".." in parts:
        raise UnsafeArchiveError(f"{source}: member {name!r} contains '..'; refused.")
    if member.issym() or member.islnk():
        raise UnsafeArchiveError(
            f"{source}: member {name!r} is a link (to {member.linkname!r}); presets hold plain "
            "files only, refused."
        )
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"{source}: member {name!r} is not a regular file; refused.")


def _preset_root(folder, source):
    """The folder holding `config.json`: `folder` itself or its single sub-folder."""
    if (folder / "config.json").is_file():
        return folder
    entries = list(folder.iterdir())
    if len(entries) == 1 and (entries[0] / "config.json").is_file():
        return entries[0]
    raise ValueError(
        f"{source} holds no preset: expected config.json at the top level or inside one folder, "
        f"found {sorted(p.name for p in entries)}."
    )

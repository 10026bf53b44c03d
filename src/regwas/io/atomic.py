"""Atomic file output (nothing half-written is ever left behind), file digests and config
digests."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from regwas.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    Nothing half-written is left behind: on error the temporary file is removed.
    ``suffix`` lets writers that insist on an extension (np.save, wfdb) see one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp creates 0600; outputs are meant to be shared
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


MARKER = ".regwas-output.json"


def _files_below(path: Path) -> list[Path]:
    """Everything below ``path`` that is not a directory (symlinks count as files)."""
    found = []
    for root, dirs, files in os.walk(path):
        found += [Path(root, f) for f in files]
        found += [Path(root, d) for d in dirs if Path(root, d).is_symlink()]
    return found


def _check_replaceable(path: Path, force: bool) -> bool:
    """Raise InputError unless ``path`` may be replaced; True when it exists.

    Never the working directory or a folder above it; never a file; an existing folder only
    when it holds no files, or is a previous regwas output (its marker lists every top-level
    entry regwas wrote) with nothing else added, or ``force`` is set.
    """
    if not os.path.lexists(path):
        return False
    real, cwd = path.resolve(), Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        raise InputError(
            f"{path}: refusing to replace the working directory or a folder above it; "
            "name a new subfolder as the output"
        )
    if path.is_symlink() or not path.is_dir():
        raise InputError(f"{path}: exists and is not a folder; choose another output path")
    if force or not _files_below(path):
        return True
    marker = path / MARKER
    hint = "choose a new or empty folder, or pass --force to replace it and everything in it"
    try:
        written = set(json.loads(marker.read_text())["entries"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(
            f"{path}: folder is not empty and was not written by regwas (no valid {MARKER}); "
            + hint
        ) from None
    extra = sorted(e.name for e in path.iterdir() if e.name not in written | {MARKER})
    if extra:
        raise InputError(
            f"{path}: a previous regwas output, but it now also holds files regwas did not "
            f"write ({', '.join(extra[:5])}{', ...' if len(extra) > 5 else ''}); " + hint
        )
    return True


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False, marker: bool = True) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; move it to ``path`` only on success.

    Deletes nothing it did not create: an existing ``path`` is replaced only if it holds no
    files or is a previous regwas output (``MARKER``, listing its top-level entries, is written
    into every folder this publishes when ``marker`` is true) with nothing added since, or
    ``force`` is set; otherwise InputError before any work starts. Never the working directory.
    The old folder is moved aside, the new one moved in, and only then the old one removed.
    """
    path = Path(path)
    _check_replaceable(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if marker:
            entries = sorted(e.name for e in tmp.iterdir())
            (tmp / MARKER).write_text(json.dumps({"entries": entries}, indent=1) + "\n")
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if _check_replaceable(path, force):
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def config_digest(obj: object) -> str:
    """Short stable digest of a JSON-serialisable object (a config section)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]

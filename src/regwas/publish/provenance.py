"""Provenance: streamed checksums of the inputs, software versions, git state."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from regwas.errors import InputError
from regwas.io.atomic import sha256_file
from regwas.io.tables import read_tsv

CHECKSUM_COLUMNS = ["path", "files", "bytes", "sha256"]


def manifest_files(manifest: str | os.PathLike) -> list[Path]:
    """The files a modality manifest names: every non-empty ``*path`` cell, relative paths
    resolved against the manifest's folder; a WFDB record (no extension) gives .hea and .dat."""
    manifest = Path(manifest)
    table = read_tsv(manifest, dtype=str)
    out: list[Path] = []
    for col in [c for c in table.columns if c.endswith("path")]:
        for cell in table[col].dropna():
            if not cell.strip():
                continue
            path = Path(cell)
            path = path if path.is_absolute() else manifest.parent / path
            if path.exists():
                out.append(path)
            else:  # a WFDB record is named without extension
                out += [
                    p
                    for p in (path.with_name(path.name + e) for e in (".hea", ".dat"))
                    if p.exists()
                ]
    return out


def input_checksums(
    paths: Iterable[str | os.PathLike], manifests: Iterable[str | os.PathLike] = ()
) -> pd.DataFrame:
    """sha256 (streamed, 1 MiB blocks) and size of every input file, one row per file sorted by
    path; then one row per manifest for the per-person files it names (``<manifest> records``,
    their count, total size and the sha256 of their sha256s in manifest order). Per-person
    files are not listed one by one: their names carry sample ids."""
    rows = []
    for path in sorted({Path(p) for p in paths}, key=str):
        if not path.is_file():
            raise InputError(f"{path}: input file does not exist")
        rows.append(
            {
                "path": str(path),
                "files": 1,
                "bytes": path.stat().st_size,
                "sha256": sha256_file(path),
            }
        )
    for manifest in manifests:
        files = manifest_files(manifest)
        combined = hashlib.sha256("".join(sha256_file(f) + "\n" for f in files).encode())
        rows.append(
            {
                "path": f"{manifest} records",
                "files": len(files),
                "bytes": sum(f.stat().st_size for f in files),
                "sha256": combined.hexdigest(),
            }
        )
    return pd.DataFrame(rows, columns=CHECKSUM_COLUMNS)


def software_versions() -> dict:
    """regwas, Python, platform and every installed distribution (pip freeze equivalent,
    sorted by name)."""
    dists = sorted(
        {
            f"{d.metadata['Name']}=={d.version}"
            for d in importlib.metadata.distributions()
            if d.metadata["Name"]
        },
        key=str.lower,
    )
    from regwas import __version__

    return {
        "regwas": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "pip_freeze": dists,
    }


def git_state(repo: str | os.PathLike) -> dict:
    """The commit of ``repo`` and whether its work tree differs from it (tracked changes or
    untracked files outside ignored ones); ``commit`` is null outside a git checkout."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=60
        )
        return out.stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line]
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None, "changed": []}
    return {"commit": commit, "dirty": bool(changed), "changed": sorted(changed)}


def cohort_size(samples: str | os.PathLike) -> int:
    """People in a samples table (the count only: no id leaves this function)."""
    return len(read_tsv(samples, usecols=["sample_id"], dtype=str))

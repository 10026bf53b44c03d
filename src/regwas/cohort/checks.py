"""File checks of the cohort stage: .fam files identical across chromosomes, manifest
files present and readable (NIfTI and WFDB headers), with examples of what failed."""

from __future__ import annotations

import functools
import logging
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.errors import InputError
from regwas.io.plink import bfile_paths, read_fam

logger = logging.getLogger(__name__)


EXAMPLES = 10
# bytes per sample of the WFDB signal formats (to spot truncated .dat files cheaply)
_WFDB_BYTES = {
    "8": 1.0,
    "16": 2.0,
    "24": 3.0,
    "32": 4.0,
    "61": 2.0,
    "80": 1.0,
    "160": 2.0,
    "212": 1.5,
    "310": 4 / 3,
    "311": 4 / 3,
}


def _examples(values, n: int = EXAMPLES) -> str:
    values = list(values)
    more = f", ... ({len(values) - n} more)" if len(values) > n else ""
    return ", ".join(map(str, values[:n])) + more


# --------------------------------------------------------------------------- genotypes


def chromosome_prefixes(pattern: str, chromosomes: list) -> dict[str, str]:
    """PLINK prefixes per chromosome from a ``{chrom}`` pattern; every file set must exist."""
    if "{chrom}" not in str(pattern):
        raise InputError(f"genotypes pattern {pattern!r} has no '{{chrom}}' placeholder")
    if not chromosomes:
        raise InputError("no chromosomes given")
    prefixes = {str(c): str(pattern).replace("{chrom}", str(c)) for c in chromosomes}
    missing = []
    for prefix in prefixes.values():
        try:
            bfile_paths(prefix)
        except InputError as err:
            missing.append(str(err))
    if missing:
        raise InputError(
            f"genotypes {pattern}: {len(missing)} of {len(prefixes)} chromosome file sets are "
            f"incomplete:\n  " + "\n  ".join(missing[:EXAMPLES])
        )
    return prefixes


def check_fam_files(prefixes: dict[str, str]) -> pd.DataFrame:
    """Read the .fam of every chromosome; all must be identical. Returns the first one."""
    first_prefix = next(iter(prefixes.values()))
    first_path = Path(f"{first_prefix}.fam")
    fam = read_fam(first_path)
    if fam.empty:
        raise InputError(f"{first_path}: no samples")
    for prefix in list(prefixes.values())[1:]:
        path = Path(f"{prefix}.fam")
        other = read_fam(path)
        if len(other) != len(fam):
            raise InputError(
                f"{path}: {len(other)} samples, but {first_path} has {len(fam)}; the .fam files "
                f"of all chromosomes must be identical"
            )
        diff = np.flatnonzero((other.to_numpy() != fam.to_numpy()).any(axis=1))
        if len(diff):
            i = int(diff[0])
            raise InputError(
                f"{path} differs from {first_path} (the .fam files of all chromosomes must be "
                f"identical): {len(diff)} lines differ, first line {i + 1}: "
                f"{' '.join(other.iloc[i])!r} vs {' '.join(fam.iloc[i])!r}"
            )
    dup = fam["iid"][fam["iid"].duplicated()]
    if len(dup):
        raise InputError(
            f"{first_path}: {len(dup)} duplicate IIDs (sample ids must be unique): "
            f"{_examples(dup.unique())}"
        )
    logger.info("genotypes: %d chromosomes, %d samples in the .fam", len(prefixes), len(fam))
    return fam


# --------------------------------------------------------------------------- manifest files


def _check_nifti(path: str) -> str | None:
    import nibabel as nib

    try:
        img = nib.load(path)
        shape = img.shape
        header = img.header
    except Exception as err:  # nibabel raises many types for corrupt files
        return f"cannot be read as NIfTI: {type(err).__name__}: {err}"
    if not shape or min(shape) < 1:
        return f"NIfTI with empty shape {shape}"
    if path.endswith(".nii"):
        expected = (
            int(header.get_data_offset()) + int(np.prod(shape)) * header.get_data_dtype().itemsize
        )
        size = os.path.getsize(path)
        if size < expected:
            return f"truncated NIfTI: {size} bytes, expected {expected} for shape {shape}"
    return None


def _check_wfdb(record: str) -> str | None:
    import wfdb

    try:
        hdr = wfdb.rdheader(record)
    except Exception as err:  # wfdb raises many types for corrupt headers
        return f"WFDB header {record}.hea cannot be read: {type(err).__name__}: {err}"
    if not hdr.n_sig:
        return f"WFDB header {record}.hea names no signals"
    base = Path(record).parent
    files: dict[str, float] = {}
    for name, fmt in zip(hdr.file_name, hdr.fmt, strict=True):
        files[name] = files.get(name, 0.0) + _WFDB_BYTES.get(str(fmt), math.nan)
    for name, bytes_per_frame in files.items():
        dat = base / name
        if not dat.is_file():
            return f"WFDB signal file {dat} (named in {record}.hea) does not exist"
        if hdr.sig_len and not math.isnan(bytes_per_frame):
            expected = math.ceil(hdr.sig_len * bytes_per_frame)
            size = dat.stat().st_size
            if size < expected:
                return f"truncated WFDB signal file {dat}: {size} bytes, expected {expected}"
    return None


def check_file(path: str, deep: bool = True) -> str | None:
    """None when ``path`` is a readable file or WFDB record (path + .hea), else the problem.

    With ``deep`` the NIfTI header (nibabel) or WFDB header (wfdb.rdheader) is read, so a
    corrupt file is named before any work starts; other files are checked for existence only.
    """
    if os.path.isfile(path + ".hea"):
        return _check_wfdb(path) if deep else None
    if os.path.isfile(path):
        if deep and (path.endswith(".nii") or path.endswith(".nii.gz")):
            return _check_nifti(path)
        if os.path.getsize(path) == 0:
            return "file is empty"
        return None
    if os.path.exists(path):
        return "not a file"
    return "does not exist (nor a WFDB record with a .hea header)"


def resolve_manifest_paths(
    manifest: pd.DataFrame, manifest_path: str | os.PathLike
) -> pd.DataFrame:
    """Absolute paths in every ``*path`` column; relative ones against the manifest's folder."""
    base = Path(manifest_path).resolve().parent
    out = manifest.copy()
    for col in path_columns(out):
        out[col] = [
            None if pd.isna(p) else os.path.normpath(p if os.path.isabs(p) else base / p)
            for p in out[col]
        ]
    return out


def path_columns(manifest: pd.DataFrame) -> list[str]:
    """The manifest columns that hold file paths (names ending in 'path')."""
    return [c for c in manifest.columns if str(c).endswith("path")]


def check_manifest_files(
    manifest: pd.DataFrame,
    modality: str,
    source: str,
    deep: bool = True,
    threads: int = 1,
) -> None:
    """Every path of a (resolved) manifest exists and reads; InputError names sample and path."""
    jobs = [
        (sid, col, p)
        for col in path_columns(manifest)
        for sid, p in zip(manifest["sample_id"], manifest[col], strict=True)
        if not pd.isna(p)
    ]
    paths = [p for _, _, p in jobs]
    desc = f"checking {modality} files"
    if threads > 1 and deep and len(paths) >= 200:
        # header parsing (wfdb builds pandas frames per header) is CPU-bound: use processes
        chunk = max(1, len(paths) // (threads * 16))
        with ProcessPoolExecutor(max_workers=threads) as pool:
            found = list(
                tqdm(
                    pool.map(functools.partial(check_file, deep=deep), paths, chunksize=chunk),
                    total=len(paths),
                    desc=desc,
                    disable=None,
                )
            )
    else:
        found = [check_file(p, deep) for p in tqdm(paths, desc=desc, disable=None)]
    bad = [(sid, col, p, why) for (sid, col, p), why in zip(jobs, found, strict=True) if why]
    if bad:
        lines = [
            f"  sample {sid}, column '{col}': {p}: {why}" for sid, col, p, why in bad[:EXAMPLES]
        ]
        more = f"\n  ... and {len(bad) - EXAMPLES} more" if len(bad) > EXAMPLES else ""
        raise InputError(
            f"{modality} manifest {source}: {len(bad)} of {len(jobs)} files are missing or "
            f"unreadable:\n" + "\n".join(lines) + more
        )
    logger.info(
        "%s manifest: %d files checked (%s)",
        modality,
        len(jobs),
        "headers read" if deep else "existence only",
    )


# --------------------------------------------------------------------------- the stage


def _unmatched_report(problems: dict[str, list[str]], fam_path: str) -> str:
    lines = [
        f"  {where}: {len(ids)} sample ids not in the genotypes ({_examples(ids)})"
        for where, ids in problems.items()
        if ids
    ]
    return (
        f"sample ids without genotypes (IIDs of {fam_path}):\n"
        + "\n".join(lines)
        + "\n  set cohort_qc.drop_unmatched_samples: true (--drop-unmatched-samples) to drop them"
    )

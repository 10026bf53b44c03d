"""File checks of the cohort stage: .fam files identical across chromosomes, manifest
files present and readable (NIfTI and WFDB headers), with examples of what failed."""

from __future__ import annotations

import functools
import logging
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.errors import InputError
from regwas.io.genotypes import (
    genotype_format,
    genotype_paths,
    open_genotypes,
    read_sample_ids,
    sample_file,
    split_prefix,
)
from regwas.io.plink import read_bim, read_fam

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
    """Genotype prefixes per chromosome from a ``{chrom}`` pattern (PLINK 1, PLINK 2 or BGEN:
    regwas.io.genotypes); every file set must exist."""
    if "{chrom}" not in str(pattern):
        raise InputError(f"genotypes pattern {pattern!r} has no '{{chrom}}' placeholder")
    if not chromosomes:
        raise InputError("no chromosomes given")
    prefixes = {str(c): str(pattern).replace("{chrom}", str(c)) for c in chromosomes}
    missing = []
    for prefix in prefixes.values():
        try:
            genotype_paths(prefix)
        except InputError as err:
            missing.append(str(err))
    if missing:
        raise InputError(
            f"genotypes {pattern}: {len(missing)} of {len(prefixes)} chromosome file sets are "
            f"incomplete:\n  " + "\n  ".join(missing[:EXAMPLES])
        )
    return prefixes


def check_fam_files(prefixes: dict[str, str]) -> pd.DataFrame:
    """Read the sample file (.fam, .psam or .sample) of every chromosome; all must list the
    same samples (PLINK 1: identical .fam files). Returns the first one (column ``iid``)."""
    first_prefix = next(iter(prefixes.values()))
    if genotype_format(first_prefix) != "bed":
        return _check_sample_files(prefixes)
    first_path = Path(f"{split_prefix(first_prefix)[0]}.fam")
    fam = read_fam(first_path)
    if fam.empty:
        raise InputError(f"{first_path}: no samples")
    for prefix in list(prefixes.values())[1:]:
        path = Path(f"{split_prefix(prefix)[0]}.fam")
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


def _check_sample_files(prefixes: dict[str, str]) -> pd.DataFrame:
    first_prefix = next(iter(prefixes.values()))
    first_path = sample_file(first_prefix)
    ids = read_sample_ids(first_prefix)
    if len(ids) == 0:
        raise InputError(f"{first_path}: no samples")
    for prefix in list(prefixes.values())[1:]:
        other = read_sample_ids(prefix)
        if len(other) != len(ids) or (other != ids).any():
            i = (
                int(np.flatnonzero(other[: len(ids)] != ids[: len(other)])[0])
                if (len(other) and len(ids) and (other[: len(ids)] != ids[: len(other)]).any())
                else min(len(other), len(ids))
            )
            raise InputError(
                f"{sample_file(prefix)}: {len(other)} samples differ from {first_path} "
                f"({len(ids)}) from row {i + 1} on; every chromosome must list the same samples "
                "in the same order"
            )
    dup = pd.Series(ids)[pd.Series(ids).duplicated()]
    if len(dup):
        raise InputError(
            f"{first_path}: {len(dup)} duplicate sample ids (sample ids must be unique): "
            f"{_examples(dup.unique())}"
        )
    logger.info("genotypes: %d chromosomes, %d samples in %s", len(prefixes), len(ids), first_path)
    return pd.DataFrame({"iid": ids})


def check_bed_files(prefixes: dict[str, str], n_samples: int) -> int:
    """Every chromosome's .bed is a SNP-major PLINK 1 file of the size its .bim and the .fam
    imply, and its .bim has unique variant ids: cheap (sizes, 3 bytes, the .bim) and done
    before any record or image is opened. Every problem of every chromosome is reported at
    once. Returns the number of variants."""
    problems, n_variants = [], 0
    for prefix in prefixes.values():
        if genotype_format(prefix) != "bed":  # .pgen/.bgen: the reader checks its counts
            try:
                with open_genotypes(prefix) as reader:
                    n_variants += reader.n_variants
                    if reader.n_samples != n_samples:
                        problems.append(f"{prefix}: {reader.n_samples} samples, not {n_samples}")
            except InputError as err:
                problems.append(str(err))
            continue
        prefix = split_prefix(prefix)[0]
        bed = Path(f"{prefix}.bed")
        try:
            n = len(read_bim(f"{prefix}.bim"))
        except InputError as err:
            problems.append(str(err))
            continue
        n_variants += n
        expected = 3 + n * ((n_samples + 3) // 4)
        size = bed.stat().st_size
        with open(bed, "rb") as fh:
            magic = fh.read(3)
        if magic[:2] != b"\x6c\x1b":
            problems.append(f"{bed}: not a PLINK 1 .bed file (first bytes {magic.hex()})")
        elif magic[2:] != b"\x01":
            problems.append(f"{bed}: individual-major .bed; convert it with plink --make-bed")
        elif size != expected:
            problems.append(
                f"{bed}: {size} bytes, expected {expected} for {n_samples} samples x {n} "
                f"variants (truncated, or .bim/.fam of another file set)"
            )
    if problems:
        raise InputError(
            f"genotypes: {len(problems)} of {len(prefixes)} chromosome file sets are "
            "unusable:\n  " + "\n  ".join(problems[:EXAMPLES])
        )
    logger.info("genotypes: %d variants, .bed sizes match", n_variants)
    return n_variants


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
    # where the voxels start: the array proxy knows (the header's vox_offset may read 0)
    offset = int(getattr(img.dataobj, "offset", 0) or header.get_data_offset())
    expected = offset + int(np.prod(shape)) * header.get_data_dtype().itemsize
    if path.endswith(".nii"):
        size = os.path.getsize(path)
        if size < expected:
            return f"truncated NIfTI: {size} bytes, expected {expected} for shape {shape}"
    elif path.endswith(".gz"):
        return _check_gzip_size(path, expected, shape)
    return None


def _check_gzip_size(path: str, expected: int, shape: tuple) -> str | None:
    """A .nii.gz must decompress to header + voxels. The gzip trailer stores the size (mod
    2^32), so a whole file is confirmed from its last 4 bytes; only when they disagree (a
    truncated file, or several gzip members) is the stream decompressed to be sure."""
    import zlib

    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() < 18:
            return "truncated .nii.gz: shorter than a gzip header and trailer"
        fh.seek(-4, os.SEEK_END)
        if int.from_bytes(fh.read(4), "little") == expected % 2**32:
            return None
        fh.seek(0)
        total, dec = 0, zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            while block := fh.read(1 << 20):
                while block:
                    total += len(dec.decompress(block, 1 << 24))
                    block = dec.unconsumed_tail
                    if dec.eof and dec.unused_data:  # the next gzip member
                        block, dec = (
                            dec.unused_data + block,
                            zlib.decompressobj(16 + zlib.MAX_WBITS),
                        )
            total += len(dec.flush())
            whole = dec.eof
        except zlib.error as err:
            return f"corrupt .nii.gz: {err}"
    if not whole or total < expected:
        return (
            f"truncated .nii.gz: decompresses to {total} bytes, expected {expected} for "
            f"shape {shape}"
        )
    return None


def _wfdb_record(record: str) -> tuple[str | None, tuple | None]:
    """(problem or None, (sampling rate, samples, lead names)) of a WFDB record."""
    import wfdb

    try:
        hdr = wfdb.rdheader(record)
    except Exception as err:  # wfdb raises many types for corrupt headers
        return f"WFDB header {record}.hea cannot be read: {type(err).__name__}: {err}", None
    if not hdr.n_sig:
        return f"WFDB header {record}.hea names no signals", None
    shape = (float(hdr.fs), int(hdr.sig_len or 0), tuple(str(n).upper() for n in hdr.sig_name))
    return _wfdb_files(record, hdr), shape


def _wfdb_files(record: str, hdr) -> str | None:
    """The signal files a WFDB header names exist and hold every sample."""
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

    With ``deep`` the NIfTI header (nibabel) or WFDB header (wfdb.rdheader) is read and the
    data's size checked against it (a truncated .nii, .nii.gz or .dat is named), so a corrupt
    file is named before any work starts; other files are checked for existence only.
    """
    return _check_path(path, deep)[0]


def _check_path(path: str, deep: bool) -> tuple[str | None, tuple | None]:
    """check_file's problem, and for a WFDB record read (``deep``) its (rate, samples, leads)."""
    if os.path.isfile(path + ".hea"):
        return _wfdb_record(path) if deep else (None, None)
    return _check_plain(path, deep), None


#: modalities whose manifests name images (NIfTI), checked by ImageChecks; ecg: EcgChecks
IMAGE_MODALITIES = ("brain", "cardiac", "dxa")
#: image modalities whose images must have one layout: a cine is (x, y, 1, t) with its frame
#: interval in pixdim[4]; a DXA image is a 2D projection (x, y) or (x, y, 1)
IMAGE_LAYOUTS = ("cardiac", "dxa")


@dataclass(frozen=True)
class EcgChecks:
    """The checks of an ECG manifest: each file reads (check_file) and, for a WFDB record, its
    sampling rate and leads are the configured ones (``fs``, ``leads``: cohort_qc.ecg_fs and
    cohort_qc.ecg_leads, when set) and its rate, length and leads those of the other records
    (the native space stacks records unchanged)."""

    fs: float | None = None
    leads: tuple[str, ...] | None = None

    def check_path(self, path: str, deep: bool) -> tuple[str | None, tuple | None]:
        """(problem or None, (rate, samples, leads) of a WFDB record read, else None)."""
        return _check_path(path, deep)

    def check_together(self, jobs: list[tuple], records: list[tuple | None]) -> list[tuple]:
        """(sample, column, path, problem) of the records that differ from the configured
        rate or leads, then of the others that differ from the most common record."""
        expected = self._unexpected(jobs, records)
        flagged = {(sid, col) for sid, col, _, _ in expected}
        odd = _odd_ones(jobs, records, _describe_record)
        return expected + [b for b in odd if (b[0], b[1]) not in flagged]

    def _unexpected(self, jobs: list[tuple], records: list[tuple | None]) -> list[tuple]:
        fs, leads = self.fs, self.leads
        out = []
        for (sid, col, p), record in zip(jobs, records, strict=True):
            if record is None:
                continue
            got_fs, _, got_leads = record
            why = []
            if fs is not None and abs(got_fs - fs) > 1e-9 * fs:
                why.append(f"{got_fs:g} Hz, but cohort_qc.ecg_fs is {fs:g} Hz")
            if leads is not None and list(got_leads) != list(leads):
                why.append(
                    f"leads ({','.join(got_leads)}), but cohort_qc.ecg_leads is ({','.join(leads)})"
                )
            if why:
                out.append((sid, col, p, "; ".join(why)))
        return out


@dataclass(frozen=True)
class ImageChecks:
    """The checks of a brain, cardiac or DXA manifest: each file reads (check_file); for a
    modality with a fixed layout (``IMAGE_LAYOUTS``) each NIfTI has it, and the images share
    the shape the most common one has."""

    modality: str

    def check_path(self, path: str, deep: bool) -> tuple[str | None, tuple | None]:
        """(problem or None, the shape the cohort must share, or None where none is checked)."""
        problem = _check_path(path, deep)[0]
        nifti = path.endswith((".nii", ".nii.gz"))
        if problem or not deep or not nifti or self.modality not in IMAGE_LAYOUTS:
            return problem, None
        return _image_layout(path, self.modality)

    def check_together(self, jobs: list[tuple], shapes: list[tuple | None]) -> list[tuple]:
        """(sample, column, path, problem) of the images whose shape is not the usual one."""
        return _odd_ones(jobs, shapes, lambda shape: f"shape {shape}")


def manifest_checks(
    modality: str, ecg_fs: float | None = None, ecg_leads: list[str] | None = None
) -> EcgChecks | ImageChecks:
    """The checks of a modality's manifest: EcgChecks for ecg, ImageChecks for the image
    modalities (``IMAGE_MODALITIES``); InputError for any other modality."""
    if modality == "ecg":
        return EcgChecks(ecg_fs, None if ecg_leads is None else tuple(ecg_leads))
    if modality in IMAGE_MODALITIES:
        return ImageChecks(modality)
    raise InputError(
        f"unknown modality {modality!r} (manifests are of ecg, {', '.join(IMAGE_MODALITIES)})"
    )


def _image_layout(path: str, modality: str) -> tuple[str | None, tuple | None]:
    """(problem or None, the shape the cohort must share) of a cine or DXA NIfTI."""
    import nibabel as nib

    img = nib.load(path)
    shape, zooms = tuple(int(x) for x in img.shape), img.header.get_zooms()
    if modality == "cardiac":
        if len(shape) != 4 or shape[2] != 1 or shape[3] < 4:
            return (
                f"a cine needs shape (x, y, 1, t) with a time axis of >= 4 frames, got {shape}",
                None,
            )
        if not float(zooms[3]) > 0:
            return f"the cine has no frame interval (pixdim[4] is {float(zooms[3]):g})", None
        return None, (shape[0], shape[1], shape[3])
    if len(shape) < 2 or any(x != 1 for x in shape[2:]):
        return f"a DXA image must be 2D, shape (x, y) or (x, y, 1), got {shape}", None
    return None, shape[:2]


def _check_plain(path: str, deep: bool) -> str | None:
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
    ecg_fs: float | None = None,
    ecg_leads: list[str] | None = None,
) -> None:
    """Every path of a (resolved) manifest exists and reads; InputError names sample and path.

    WFDB records (read when ``deep``) must agree with each other on sampling rate, length and
    leads, and with ``ecg_fs`` / ``ecg_leads`` (cohort_qc.ecg_fs, cohort_qc.ecg_leads: the
    rate and the lead names in order) when those are set; images of a modality with a fixed
    layout must have it and share one shape (``manifest_checks``)."""
    try:
        checks = manifest_checks(modality, ecg_fs, ecg_leads)
    except InputError as err:
        raise InputError(f"{modality} manifest {source}: {err}") from None
    jobs = [
        (sid, col, p)
        for col in path_columns(manifest)
        for sid, p in zip(manifest["sample_id"], manifest[col], strict=True)
        if not pd.isna(p)
    ]
    if "path" in manifest.columns:
        empty = manifest["path"].isna() | (manifest["path"].astype(str).str.strip() == "")
        if empty.any():
            raise InputError(
                f"{modality} manifest {source}: sample {manifest.loc[empty, 'sample_id'].iloc[0]}"
                f" has no file (column path); {int(empty.sum())} rows without one"
            )
    paths = [p for _, _, p in jobs]
    desc = f"checking {modality} files"
    if threads > 1 and deep and len(paths) >= 200:
        # header parsing (wfdb builds pandas frames per header) is CPU-bound: use processes
        chunk = max(1, len(paths) // (threads * 16))
        with ProcessPoolExecutor(max_workers=threads) as pool:
            found = list(
                tqdm(
                    pool.map(
                        functools.partial(checks.check_path, deep=deep),
                        paths,
                        chunksize=chunk,
                    ),
                    total=len(paths),
                    desc=desc,
                    disable=None,
                )
            )
    else:
        found = [checks.check_path(p, deep) for p in tqdm(paths, desc=desc, disable=None)]
    bad = [(sid, col, p, why) for (sid, col, p), (why, _) in zip(jobs, found, strict=True) if why]
    bad += checks.check_together(jobs, [shape for _, shape in found])
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


def _describe_record(record: tuple) -> str:
    fs, n, leads = record
    return f"{fs:g} Hz, {n} samples, {len(leads)} leads ({','.join(leads)})"


def _odd_ones(jobs: list[tuple], shapes: list[tuple | None], describe) -> list[tuple]:
    """The files whose shape (a record's rate, length and leads; an image's shape) differs
    from the most common one (the stores stack them unchanged, so all must agree)."""
    seen = [s for s in shapes if s is not None]
    if not seen:
        return []
    counts: dict[tuple, int] = {}
    for shape in seen:
        counts[shape] = counts.get(shape, 0) + 1
    usual = max(counts, key=lambda k: counts[k])
    return [
        (sid, col, p, f"{describe(shape)}; the other records have {describe(usual)}")
        for (sid, col, p), shape in zip(jobs, shapes, strict=True)
        if shape is not None and shape != usual
    ]


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

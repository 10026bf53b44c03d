"""Cohort stage: validate a cohort's inputs and compute genetic principal components.

The same checks serve the synthetic biobank and a real cohort: the samples, diagnoses and
manifest tables are validated against their schemas, manifest files must exist (and their
NIfTI / WFDB headers must read), sample ids must match the genotype .fam, and every .fam of
the per-chromosome file sets must be identical. Genetic PCs come from common, well-called,
LD-pruned variants by a seeded randomized SVD that streams int8 genotypes, so memory stays
at one byte per genotype used.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.config import merge_defaults
from regwas.errors import InputError
from regwas.genotypes import MISSING, BedReader, bfile_paths, read_bim, read_fam
from regwas.io import atomic_path
from regwas.tables import validate_table

logger = logging.getLogger(__name__)

DEFAULTS: dict = {
    "drop_unmatched_samples": False,
    "check_files": True,
    "pca": {
        "n_pcs": 10,
        "min_maf": 0.05,
        "min_call_rate": 0.98,
        "prune": "ld",
        "ld_r2": 0.2,
        "ld_window": 50,
        "thin_bp": 100_000,
        "max_variants": 50_000,
        "qc_max_samples": 5_000,
        "n_iter": 7,
        "n_oversamples": 20,
    },
}

PRUNE_METHODS = ("ld", "thin", "none")
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
_CACHE_BYTES = 1 << 30  # the SVD keeps standardised genotypes in memory up to 1 GiB
_BLOCK_ELEMENTS = 1 << 25  # genotypes standardised at once in the SVD (128 MB of float32)


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


# --------------------------------------------------------------------------- PCA


def _standardise(G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-variant (mean, sd, call rate, minor allele frequency) of int8 ALT counts."""
    called = G != MISSING
    n_called = called.sum(axis=1)
    g = np.where(called, G, np.int8(0))  # int8: sums below in int64, no float copies
    total = g.sum(axis=1, dtype=np.int64)
    total_sq = (g * g).sum(axis=1, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n_called
        var = total_sq / n_called - mean**2
    sd = np.sqrt(np.clip(np.nan_to_num(var), 0, None))
    freq = np.nan_to_num(mean / 2)
    maf = np.minimum(freq, 1 - freq)
    return np.nan_to_num(mean), sd, n_called / G.shape[1], maf


def _zscores(G: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Standardised genotypes (float32), missing mean-imputed (= 0)."""
    Z = (G.astype(np.float32) - mean[:, None].astype(np.float32)) / sd[:, None].astype(np.float32)
    Z[G == MISSING] = 0.0
    return Z


class _LDPruner:
    """Greedy LD pruning that carries its window across blocks of one chromosome.

    A variant is kept when its r² with every kept variant among the previous
    ``window - 1`` candidates is below ``r2_max`` (plink's --indep-pairwise rule with step 1,
    the earlier variant of a pair kept). r is estimated from the standardised genotypes.
    """

    def __init__(self, r2_max: float, window: int, n_samples: int):
        self.r2_max = r2_max
        self.window = window
        self.n = n_samples
        self.prev_z = np.empty((0, n_samples), dtype=np.float32)
        self.prev_keep = np.empty(0, dtype=bool)

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        keep_all = np.empty(len(Z), dtype=bool)
        w = self.window
        for a in range(0, len(Z), w):
            chunk = Z[a : a + w]
            rows = np.vstack([self.prev_z, chunk])
            flags = np.concatenate([self.prev_keep, np.zeros(len(chunk), dtype=bool)])
            p0 = len(self.prev_z)
            r2 = (rows @ chunk.T / self.n) ** 2  # (p0 + c) x c
            for j in range(len(chunk)):
                pos = p0 + j
                lo = max(0, pos - w + 1)
                flags[pos] = not np.any(r2[lo:pos, j][flags[lo:pos]] >= self.r2_max)
            keep_all[a : a + len(chunk)] = flags[p0:]
            self.prev_z = rows[-(w - 1) :] if w > 1 else rows[:0]
            self.prev_keep = flags[-(w - 1) :] if w > 1 else flags[:0]
        return keep_all


def _thin(positions: np.ndarray, min_bp: int, last: float) -> tuple[np.ndarray, float]:
    """Keep a variant when it lies >= min_bp after the previously kept one (file order)."""
    keep = np.zeros(len(positions), dtype=bool)
    for i, pos in enumerate(positions):
        if pos - last >= min_bp:
            keep[i] = True
            last = pos
    return keep, last


def select_pca_variants(
    prefixes: dict[str, str], sample_index: np.ndarray, pca: dict, seed: int
) -> dict[str, np.ndarray]:
    """Indices (per chromosome) of common, well-called, pruned variants, capped at max_variants.

    Filters and LD are computed on at most ``qc_max_samples`` people (seeded subset) so that
    a pass over a biobank's variants stays cheap; the final filters are re-applied on all
    samples when the selected variants are read.
    """
    rng = np.random.default_rng(seed)
    sample_index = np.asarray(sample_index)
    if len(sample_index) > pca["qc_max_samples"]:
        qc_index = np.sort(rng.choice(sample_index, pca["qc_max_samples"], replace=False))
    else:
        qc_index = sample_index
    method = pca["prune"]
    selected: dict[str, np.ndarray] = {}
    n_pass = 0
    for chrom, prefix in prefixes.items():
        with BedReader(prefix, sample_index=qc_index) as reader:
            positions = reader.bim["position"].to_numpy()
            block = max(256, min(8192, _BLOCK_ELEMENTS // max(1, reader.n_samples)))
            pruner = _LDPruner(pca["ld_r2"], pca["ld_window"], reader.n_samples)
            last = -math.inf
            kept = []
            for start, _, G in tqdm(
                reader.blocks(block),
                total=math.ceil(reader.n_variants / block),
                desc=f"PCA variants chr{chrom}",
                disable=None,
            ):
                mean, sd, call, maf = _standardise(G)
                idx = np.flatnonzero(
                    (maf >= pca["min_maf"]) & (call >= pca["min_call_rate"]) & (sd > 0)
                )
                n_pass += len(idx)
                if method == "ld":
                    keep = pruner(_zscores(G[idx], mean[idx], sd[idx]))
                elif method == "thin":
                    keep, last = _thin(positions[start + idx], pca["thin_bp"], last)
                else:
                    keep = np.ones(len(idx), dtype=bool)
                kept.append(start + idx[keep])
            selected[chrom] = np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)
    total = sum(len(v) for v in selected.values())
    logger.info(
        "PCA variants: %d pass MAF >= %g and call rate >= %g (on %d samples); %d after %s pruning",
        n_pass,
        pca["min_maf"],
        pca["min_call_rate"],
        len(qc_index),
        total,
        method,
    )
    if total > pca["max_variants"]:
        pick = np.zeros(total, dtype=bool)
        pick[rng.choice(total, pca["max_variants"], replace=False)] = True
        offsets = np.cumsum([0] + [len(v) for v in selected.values()])
        selected = {
            c: v[pick[offsets[i] : offsets[i + 1]]] for i, (c, v) in enumerate(selected.items())
        }
        logger.info("PCA variants: random subset of %d (pca.max_variants)", pca["max_variants"])
    return selected


def _read_variants(prefix: str, index: np.ndarray, sample_index: np.ndarray) -> np.ndarray:
    """ALT counts (int8, variants x samples) of the given variant indices, read in runs."""
    out = np.empty((len(index), len(sample_index)), dtype=np.int8)
    if not len(index):
        return out
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    with BedReader(prefix, sample_index=sample_index) as reader:
        row = 0
        for run in np.split(index, breaks):
            out[row : row + len(run)] = reader.read(int(run[0]), int(run[-1]) + 1)
            row += len(run)
    return out


def _orthonormal(A: np.ndarray) -> np.ndarray:
    return np.linalg.qr(A)[0]


def randomized_pca(
    G: np.ndarray,
    mean: np.ndarray,
    sd: np.ndarray,
    k: int,
    seed: int,
    n_iter: int = 7,
    n_oversamples: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k left singular vectors and values of the standardised samples x variants matrix.

    Halko et al.'s randomized SVD (as sklearn's randomized_svd: Gaussian sketch, QR-normalised
    power iterations) applied without materialising the matrix: int8 genotypes ``G``
    (variants x samples) are standardised block by block, missing = 0. Seeded.
    """
    m, n = G.shape
    ell = min(k + n_oversamples, m, n)
    step = max(1, _BLOCK_ELEMENTS // n)
    inv = (1.0 / sd).astype(np.float32)
    mu = mean.astype(np.float32)

    cached = None
    if m * n * 4 <= _CACHE_BYTES:  # standardise once when the float32 matrix is small
        cached = _zscores(G, mean, sd)

    def blocks():
        if cached is not None:
            yield 0, m, cached
            return
        for a in range(0, m, step):
            b = min(a + step, m)
            Z = (G[a:b].astype(np.float32) - mu[a:b, None]) * inv[a:b, None]
            Z[G[a:b] == MISSING] = 0.0
            yield a, b, Z

    def x_times(V: np.ndarray) -> np.ndarray:  # X (n x m) @ V (m x l)
        out = np.zeros((n, V.shape[1]), dtype=np.float64)
        for a, b, Z in blocks():
            out += Z.T @ V[a:b]
        return out

    def xt_times(U: np.ndarray) -> np.ndarray:  # X.T (m x n) @ U (n x l)
        out = np.empty((m, U.shape[1]), dtype=np.float64)
        U32 = U.astype(np.float32)
        for a, b, Z in blocks():
            out[a:b] = Z @ U32
        return out

    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((m, ell)).astype(np.float32)
    Q = _orthonormal(x_times(omega))
    for _ in tqdm(range(n_iter), desc="randomized PCA", disable=None):
        W = _orthonormal(xt_times(Q)).astype(np.float32)
        Q = _orthonormal(x_times(W))
    Bt = xt_times(Q)  # = X.T Q, so B = Q.T X = Bt.T
    Uh, S, _ = np.linalg.svd(Bt.T, full_matrices=False)
    U = Q @ Uh[:, :k]
    S = S[:k]
    signs = np.sign(U[np.abs(U).argmax(axis=0), np.arange(U.shape[1])])
    return U * np.where(signs == 0, 1.0, signs), S


def compute_pcs(
    prefixes: dict[str, str],
    sample_index: np.ndarray,
    pca: dict,
    seed: int,
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Genetic PCs of the samples at ``sample_index`` (.fam positions, in that order).

    Returns (scores n x k: sqrt(n) * left singular vectors, so each PC has mean 0 and
    variance 1; table component/eigenvalue/variance_explained/n_variants; the variants used:
    chromosome, variant_id, position). Eigenvalues are those of the genetic relationship
    matrix X X'/m of the standardised genotypes X (n x m), as plink2 --pca reports them.
    """
    k = int(pca["n_pcs"])
    selected = select_pca_variants(prefixes, sample_index, pca, seed)
    blocks, used = [], []
    for chrom, index in selected.items():
        if not len(index):
            continue
        G = _read_variants(prefixes[chrom], index, sample_index)
        mean, sd, call, maf = _standardise(G)
        ok = (maf >= pca["min_maf"]) & (call >= pca["min_call_rate"]) & (sd > 0)
        blocks.append((G[ok], mean[ok], sd[ok], call[ok]))
        b = read_bim(f"{prefixes[chrom]}.bim").iloc[index[ok]]
        used.append(b[["chromosome", "variant_id", "position"]])
    m = sum(len(b[0]) for b in blocks)
    n = len(sample_index)
    if m <= k or n <= k:
        raise InputError(
            f"genetic PCA: {m} variants pass the filters for {n} samples, too few for "
            f"cohort_qc.pca.n_pcs = {k} (lower pca.min_maf / pca.ld_r2 or pca.n_pcs)"
        )
    G = np.concatenate([b[0] for b in blocks])
    mean = np.concatenate([b[1] for b in blocks])
    sd = np.concatenate([b[2] for b in blocks])
    total_ss = float(np.concatenate([b[3] for b in blocks]).sum() * n)  # sum of z^2
    del blocks
    logger.info("genetic PCA: %d variants x %d samples, %d PCs", m, n, k)
    U, S = randomized_pca(G, mean, sd, k, seed, pca["n_iter"], pca["n_oversamples"])
    table = pd.DataFrame(
        {
            "component": [f"PC{i + 1}" for i in range(k)],
            "eigenvalue": S**2 / m,
            "variance_explained": S**2 / total_ss,
            "n_variants": m,
        }
    )
    return U * math.sqrt(n), table, pd.concat(used, ignore_index=True)


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


def prepare_cohort(
    inputs: dict,
    chromosomes: list,
    cfg: dict,
    out_dir: str | os.PathLike,
    seed: int,
    threads: int = 1,
) -> dict:
    """Validate a cohort's inputs, compute genetic PCs and write the checked tables to out_dir.

    ``inputs``: genotypes (PLINK prefix pattern with {chrom}), samples, diagnoses, manifests
    ({modality: path}). Writes samples.tsv (+ sex_male, PC1..PCk, in .fam order),
    diagnoses.tsv, {modality}.manifest.tsv (absolute paths) and pca.tsv, all or nothing.
    Returns a summary of counts.
    """
    from threadpoolctl import threadpool_limits

    cfg = merge_defaults(DEFAULTS, cfg, "cohort_qc")
    pca = cfg["pca"]
    _check_cfg(cfg)
    out_dir = Path(out_dir)
    manifests_in = dict(inputs.get("manifests") or {})
    for key in ("genotypes", "samples", "diagnoses"):
        if not inputs.get(key):
            raise InputError(f"inputs.{key} is not set")

    # 1. tables
    samples = validate_table(inputs["samples"], "samples")
    diagnoses = validate_table(inputs["diagnoses"], "diagnoses")
    manifests = {
        mod: resolve_manifest_paths(validate_table(path, "manifest"), path)
        for mod, path in manifests_in.items()
    }

    # 2. genotypes and sample ids
    prefixes = chromosome_prefixes(inputs["genotypes"], chromosomes)
    fam = check_fam_files(prefixes)
    fam_path = f"{next(iter(prefixes.values()))}.fam"
    fam_ids = fam["iid"].to_numpy(dtype=object)
    in_fam = set(fam_ids)
    sample_ids = set(samples["sample_id"])
    for mod, man in manifests.items():
        unknown = [s for s in man["sample_id"] if s not in sample_ids]
        if unknown:
            raise InputError(
                f"{mod} manifest {manifests_in[mod]}: {len(unknown)} sample ids are not in "
                f"{inputs['samples']}: {_examples(unknown)}"
            )
    unmatched = {
        f"samples {inputs['samples']}": [s for s in samples["sample_id"] if s not in in_fam]
    }
    for mod, man in manifests.items():
        unmatched[f"{mod} manifest {manifests_in[mod]}"] = [
            s for s in man["sample_id"] if s not in in_fam
        ]
    n_unmatched = {k: len(v) for k, v in unmatched.items()}
    if any(n_unmatched.values()):
        if not cfg["drop_unmatched_samples"]:
            raise InputError(_unmatched_report(unmatched, fam_path))
        for where, n_drop in n_unmatched.items():
            if n_drop:
                logger.warning("%s: dropped %d sample ids without genotypes", where, n_drop)
    keep = np.array([s in sample_ids for s in fam_ids])
    n_no_row = int((~keep).sum())
    if n_no_row:
        logger.info("%d genotyped people have no row in %s; left out", n_no_row, inputs["samples"])
    final_ids = fam_ids[keep]
    if len(final_ids) == 0:
        raise InputError(f"no sample of {inputs['samples']} is in the genotypes {fam_path}")
    order = pd.Series(np.arange(len(final_ids)), index=final_ids)
    samples = samples[samples["sample_id"].isin(order.index)]
    samples = samples.iloc[np.argsort(order[samples["sample_id"]].to_numpy())].reset_index(
        drop=True
    )
    n_diag = len(diagnoses)
    diagnoses = diagnoses[diagnoses["sample_id"].isin(order.index)].reset_index(drop=True)
    if len(diagnoses) < n_diag:
        logger.info(
            "diagnoses: dropped %d of %d rows (people not in the analysed cohort)",
            n_diag - len(diagnoses),
            n_diag,
        )
    for mod in manifests:
        man = manifests[mod]
        man = man[man["sample_id"].isin(order.index)]
        manifests[mod] = man.iloc[np.argsort(order[man["sample_id"]].to_numpy())].reset_index(
            drop=True
        )

    # 3. files named by the manifests
    for mod, man in manifests.items():
        check_manifest_files(man, mod, manifests_in[mod], deep=cfg["check_files"], threads=threads)

    # 4. genetic PCs
    sample_index = np.flatnonzero(keep)
    with threadpool_limits(limits=threads):
        scores, pca_table, used = compute_pcs(prefixes, sample_index, pca, seed)
    pc_cols = list(pca_table["component"])
    clash = [c for c in samples.columns if c in pc_cols or c == "sex_male"]
    if clash:
        logger.warning("samples table columns %s are replaced by the computed ones", clash)
        samples = samples.drop(columns=clash)
    samples["sex_male"] = (samples["sex"] == "M").astype(np.int8)
    samples = pd.concat([samples, pd.DataFrame(scores, columns=pc_cols)], axis=1)

    # 5. outputs, all or nothing
    outputs = {"samples.tsv": samples, "diagnoses.tsv": diagnoses, "pca.tsv": pca_table}
    for mod, man in manifests.items():
        outputs[f"{mod}.manifest.tsv"] = man
    with contextlib.ExitStack() as stack:
        for name, table in outputs.items():
            tmp = stack.enter_context(atomic_path(out_dir / name))
            table.to_csv(tmp, sep="\t", index=False)
    summary = {
        "n_fam": len(fam),
        "n_samples_table": len(sample_ids),
        "n_samples": len(final_ids),
        "n_genotyped_without_row": n_no_row,
        "n_unmatched_dropped": n_unmatched,
        "n_diagnoses": len(diagnoses),
        "n_diagnoses_dropped": n_diag - len(diagnoses),
        "manifests": {mod: len(man) for mod, man in manifests.items()},
        "n_variants_pca": int(pca_table["n_variants"].iloc[0]),
        "variance_explained": [float(x) for x in pca_table["variance_explained"]],
    }
    logger.info("cohort: %d samples written to %s", len(final_ids), out_dir)
    return summary


def _check_cfg(cfg: dict) -> None:
    """Range checks of the cohort section (the config schema repeats them for the workflow)."""
    pca = cfg["pca"]
    rules = [
        ("n_pcs", isinstance(pca["n_pcs"], int) and pca["n_pcs"] >= 1, "an integer >= 1"),
        ("min_maf", 0 <= pca["min_maf"] <= 0.5, "in [0, 0.5]"),
        ("min_call_rate", 0 <= pca["min_call_rate"] <= 1, "in [0, 1]"),
        ("prune", pca["prune"] in PRUNE_METHODS, f"one of {PRUNE_METHODS}"),
        ("ld_r2", 0 < pca["ld_r2"] <= 1, "in (0, 1]"),
        (
            "ld_window",
            isinstance(pca["ld_window"], int) and pca["ld_window"] >= 2,
            "an integer >= 2",
        ),
        ("thin_bp", pca["thin_bp"] >= 0, ">= 0"),
        ("max_variants", isinstance(pca["max_variants"], int) and pca["max_variants"] >= 2, ">= 2"),
        (
            "qc_max_samples",
            isinstance(pca["qc_max_samples"], int) and pca["qc_max_samples"] >= 50,
            ">= 50",
        ),
        ("n_iter", isinstance(pca["n_iter"], int) and pca["n_iter"] >= 0, "an integer >= 0"),
        (
            "n_oversamples",
            isinstance(pca["n_oversamples"], int) and pca["n_oversamples"] >= 0,
            ">= 0",
        ),
    ]
    for key, ok, what in rules:
        if not ok:
            raise InputError(f"cohort_qc.pca.{key} = {pca[key]!r}: must be {what}")


# --------------------------------------------------------------------------- CLI


def parse_chromosomes(text: str) -> list[str]:
    """'1-22', '1,2,5-7', '1-22,X' -> list of chromosome names."""
    out: list[str] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            if not (lo.isdigit() and hi.isdigit()) or int(lo) > int(hi):
                raise InputError(f"--chromosomes: bad range {part!r}")
            out.extend(str(c) for c in range(int(lo), int(hi) + 1))
        else:
            out.append(part)
    if not out:
        raise InputError(f"--chromosomes {text!r}: no chromosomes")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `regwas cohort`."""
    parser.add_argument("--samples", required=True, help="samples.tsv")
    parser.add_argument("--diagnoses", required=True, help="diagnoses.tsv (sample_id, icd10)")
    parser.add_argument("--genotypes", required=True, help="PLINK prefix pattern with {chrom}")
    parser.add_argument(
        "--manifest",
        action="append",
        default=[],
        metavar="MODALITY=PATH",
        help="a modality's manifest (repeatable), e.g. ecg=ecg.manifest.tsv",
    )
    parser.add_argument("--chromosomes", default="1-22", help="e.g. 1-22 or 1,2,5-7 (default 1-22)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--n-pcs", type=int, default=DEFAULTS["pca"]["n_pcs"])
    parser.add_argument("--max-variants", type=int, default=DEFAULTS["pca"]["max_variants"])
    parser.add_argument("--prune", choices=PRUNE_METHODS, default=DEFAULTS["pca"]["prune"])
    parser.add_argument("--drop-unmatched-samples", action="store_true")
    parser.add_argument(
        "--no-check-files",
        action="store_true",
        help="only check that manifest files exist (skip reading NIfTI / WFDB headers)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    """Run the cohort stage from the command line."""
    manifests = {}
    for item in args.manifest:
        mod, sep, path = item.partition("=")
        if not sep or not mod or not path:
            raise InputError(f"--manifest {item!r}: expected MODALITY=PATH")
        if mod in manifests:
            raise InputError(f"--manifest: modality {mod!r} given twice")
        manifests[mod] = path
    cfg = {
        "drop_unmatched_samples": args.drop_unmatched_samples,
        "check_files": not args.no_check_files,
        "pca": {"n_pcs": args.n_pcs, "max_variants": args.max_variants, "prune": args.prune},
    }
    inputs = {
        "genotypes": args.genotypes,
        "samples": args.samples,
        "diagnoses": args.diagnoses,
        "manifests": manifests,
    }
    summary = prepare_cohort(
        inputs, parse_chromosomes(args.chromosomes), cfg, Path(args.out), args.seed, args.threads
    )
    logger.info("summary: %s", summary)
    return 0

"""ECG array stores of a manifest: the native 10 s signals and the median beats, one
row per person in manifest order, built in parallel chunks."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.arraystore import ArrayStoreWriter
from regwas.register.ecg.beats import (
    QC_COLUMNS,
    BeatDetectionError,
    _check_cross_keys,
    median_beat,
)
from regwas.register.ecg.records import read_record, record_paths

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- array stores


def _manifest_paths(manifest: pd.DataFrame, root: str | Path) -> tuple[list[str], list[Path]]:
    """Sample ids and resolved record paths of a manifest (sample_id, path)."""
    for col in ("sample_id", "path"):
        if col not in manifest.columns:
            raise InputError(f"ECG manifest: missing column {col!r}")
    if len(manifest) == 0:
        raise InputError("ECG manifest: no rows")
    ids = manifest["sample_id"].astype(str).tolist()
    dup = manifest["sample_id"].astype(str).duplicated()
    if dup.any():
        raise InputError(
            f"ECG manifest: duplicate sample ids {sorted(set(np.array(ids)[dup]))[:5]}"
        )
    paths = []
    for i, p in enumerate(manifest["path"].tolist()):
        if not isinstance(p, str) or not p.strip():
            raise InputError(f"ECG manifest: row {i + 1} (sample {ids[i]}): empty 'path'")
        q = Path(p)
        paths.append(record_paths(q if q.is_absolute() else Path(root) / q))
    return ids, paths


def _chunks(n: int, threads: int) -> list[range]:
    """Contiguous index chunks for the worker pool."""
    size = max(1, min(64, n // max(1, 4 * threads) or 1))
    return [range(a, min(n, a + size)) for a in range(0, n, size)]


def _native_chunk(paths: list[Path]) -> list[tuple[np.ndarray, float, list[str]]]:
    """Worker: read a chunk of records."""
    return [read_record(p) for p in paths]


def _median_chunk(args: tuple[list[Path], dict]) -> list[tuple]:
    """Worker: median beats of a chunk of records; a too-few-beats record gives its error."""
    paths, cfg = args
    out = []
    for p in paths:
        sig, fs, names = read_record(p)
        try:
            beat, qc = median_beat(sig, fs, cfg, name=str(p))
            out.append((beat, qc, names, None))
        except BeatDetectionError as err:
            if cfg["on_failure"] == "error":
                raise
            out.append((None, None, names, str(err)))
    return out


def _map(func, jobs: list, threads: int) -> Iterator:
    """Run func over jobs in order, in a fork pool when threads > 1."""
    if threads <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield func(job)
        return
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=threads, mp_context=ctx) as pool:
        yield from pool.map(func, jobs)


def build_native(
    manifest: pd.DataFrame, root: str | Path, out_dir: str | Path, threads: int = 1
) -> None:
    """Native array store (regwas.io.arraystore): N x leads x samples float32 in manifest order.

    Every record must have the first record's sampling rate, length and leads (the native space
    is unprocessed; nothing is resampled): otherwise InputError names the record. Records are
    streamed into the store; files appear only when all records were read.
    """
    ids, paths = _manifest_paths(manifest, root)
    first, fs0, names0 = read_record(paths[0])
    jobs = [[paths[i] for i in ch] for ch in _chunks(len(ids), threads)]
    i = 0
    with (
        ArrayStoreWriter(out_dir, first.shape, len(ids)) as store,
        tqdm(total=len(ids), desc="native ECG", unit="record", disable=None) as bar,
    ):
        for res in _map(_native_chunk, jobs, threads):
            for sig, fs, names in res:
                if fs != fs0 or sig.shape != first.shape or names != names0:
                    raise InputError(
                        f"{paths[i]}: {sig.shape[0]} leads {names[:3]}..., {sig.shape[1]} "
                        f"samples at {fs:g} Hz; the native store needs {first.shape[0]} leads "
                        f"{names0[:3]}..., {first.shape[1]} samples at {fs0:g} Hz (as "
                        f"{paths[0]})"
                    )
                store.append(ids[i], sig)
                i += 1
            bar.update(len(res))


def build_median_beat(
    manifest: pd.DataFrame,
    root: str | Path,
    cfg: Mapping | None,
    out_dir: str | Path,
    threads: int = 1,
) -> pd.DataFrame:
    """Median-beat array store (regwas.io.arraystore): N_ok x leads x length float32, and
    qc.tsv with every manifest sample (ok, error and QC metrics).

    A record in which too few beats are found is left out of the store and flagged in qc.tsv
    (on_failure "exclude", the default) or stops the build ("error"). Missing or corrupt
    records, and records whose leads differ from the first, raise InputError naming the
    record. Beats are streamed into the store; files appear only on success. Returns the QC
    table.
    """
    cfg = _check_cross_keys(section("ecg.median_beat", cfg))
    ids, paths = _manifest_paths(manifest, root)
    jobs = [([paths[i] for i in ch], cfg) for ch in _chunks(len(ids), threads)]
    names0: list[str] | None = None
    i = 0
    with (
        ArrayStoreWriter(out_dir, None, len(ids), qc_columns=QC_COLUMNS) as store,
        tqdm(total=len(ids), desc="median beat", unit="record", disable=None) as bar,
    ):
        for res in _map(_median_chunk, jobs, threads):
            for beat, qc, names, error in res:
                names0 = names0 or names
                if names != names0:
                    raise InputError(
                        f"{paths[i]}: leads {names} differ from the first record's {names0}"
                    )
                if error is None:
                    store.append(ids[i], beat, qc)
                else:
                    log.warning("median beat failed: %s", error)
                    store.exclude(ids[i], error)
                i += 1
            bar.update(len(res))
        if store.n == 0:
            raise InputError(
                f"ECG manifest: no record gave a median beat (first error: {store.qc_rows[0]})"
            )
        qc_table = store.qc_table()
    log.info("median beats: %d records failed", len(ids) - int(qc_table["ok"].sum()))
    return qc_table

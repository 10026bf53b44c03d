"""Cardiac cine array stores: ``native`` (frames in acquisition order) and ``deepcycle`` (frames
resampled onto a common phase grid by the cycle phase DeepCycle learns on the cohort).

Both stores hold, per person, the cine area-downsampled to ``cardiac.size`` x ``cardiac.size``
pixels and scaled by its own 99th percentile (the intensity gain removed identically in both
spaces), as rows (size, size, T): the image axes first, time last, like the NIfTI. So the two
spaces differ only in time: ``native`` row k is acquisition frame k (whatever the start phase
and heart rate), ``deepcycle`` row k is phase 2 pi k / T of the learned cycle.

Every cine of a cohort must have the same number of frames (the stores stack them); a cine
with another count, no time axis or no frame interval stops the job naming the file and the
sample. QC per person (``qc.tsv``): frame interval, the winding number and share of forward
steps of theta (``winding`` should be 1), and when the simulator's true phase is given
(``truth/cardiac_phase.tsv``) the circular concordance |mean exp(i (theta - phi))| of theta and
of the frame-index phase 2 pi t / T (the baseline) with the true phase phi, and their absolute
circular errors after one cohort-wide offset (degrees). A person whose theta fails the QC
(winding != 1 or forward share below ``deepcycle.min_forward_share``) is kept and flagged
(``qc_pass`` 0) or left out (``deepcycle.on_qc_failure: exclude``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.arraystore import ArrayStoreWriter
from regwas.io.tables import read_tsv
from regwas.register.cine.deepcycle import (
    frame_index_phase,
    phase_qc,
    phases,
    prepare,
    read_cine,
    resample_to_grid,
    train,
)
from regwas.register.image.tables import read_image_manifest, write_qc_summary

log = logging.getLogger(__name__)

NATIVE_QC = ["frame_ms"]
QC_COLUMNS = [
    "frame_ms",
    "winding",
    "forward_share",
    "qc_pass",
    "concordance",
    "error_deg",
    "concordance_frame_index",
    "error_deg_frame_index",
    "seconds",
]


def cardiac_config(cfg: dict | None) -> dict:
    """The ``cardiac`` config section, validated against the schema with defaults filled in."""
    return section("cardiac", cfg)


def load_cines(
    manifest_path: str | os.PathLike, size: int
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(sample ids, cines (N, T, size, size) float32, frame intervals ms) of a cine manifest.

    InputError names the sample and file of a cine that is unreadable, has no time axis or
    frame interval, or another frame count than the manifest's first cine."""
    man = read_image_manifest(manifest_path, "cardiac")
    ids, cines, frame_ms = [], None, np.empty(len(man))
    for i, row in enumerate(tqdm(man.itertuples(), total=len(man), desc="cines", disable=None)):
        frames, dt, _ = read_cine(row.image, row.sample_id)
        if cines is None:
            cines = np.empty((len(man), frames.shape[0], size, size), np.float32)
            first = (row.sample_id, frames.shape)
        elif frames.shape[0] != cines.shape[1]:
            raise InputError(
                f"cine of sample {row.sample_id}: {row.image}: {frames.shape[0]} frames; the "
                f"cines of a cohort need one frame count (sample {first[0]} has {cines.shape[1]})"
            )
        cines[i] = prepare(frames, size)
        frame_ms[i] = dt
        ids.append(row.sample_id)
    return ids, cines, frame_ms


def _rows(cines: np.ndarray) -> np.ndarray:
    """Cines (N, T, H, W) -> store rows (N, H, W, T)."""
    return np.moveaxis(cines, 1, -1)


def build_cardiac_native(
    manifest_path: str | os.PathLike, cfg: dict | None, out_dir: str | os.PathLike
) -> None:
    """The native store: every cine's frames in acquisition order (see the module docstring)."""
    cfg = cardiac_config(cfg)
    ids, cines, frame_ms = load_cines(manifest_path, cfg["size"])
    rows = _rows(cines)
    with ArrayStoreWriter(out_dir, rows.shape[1:], len(ids), qc_columns=NATIVE_QC) as store:
        for i, sid in enumerate(ids):
            store.append(sid, rows[i], {"frame_ms": float(frame_ms[i])})


def read_true_phase(path: str | os.PathLike, ids: list[str], frames: int) -> np.ndarray:
    """True phases (N, T) in radians from the simulator's truth/cardiac_phase.tsv."""
    table = read_tsv(path, dtype={"sample_id": str})
    table = table.sort_values(["sample_id", "frame"], kind="stable")
    by = {sid: g["phase"].to_numpy(float) for sid, g in table.groupby("sample_id", sort=False)}
    missing = [s for s in ids if s not in by or len(by[s]) != frames]
    if missing:
        raise InputError(f"{path}: no true phase for {frames} frames of sample {missing[0]}")
    return 2 * np.pi * np.stack([by[s] for s in ids])


def build_cardiac_deepcycle(
    manifest_path: str | os.PathLike,
    cfg: dict | None,
    seed: int,
    out_dir: str | os.PathLike,
    true_phase: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Train DeepCycle on the cohort's cines (a seeded subset of at most
    ``deepcycle.train_subjects``), read every person's theta and resample their frames onto
    the common phase grid; write the store, ``qc.tsv``, ``qc_summary.tsv`` and the model
    (``registration_model.pt``) to ``out_dir``. Returns the QC table."""
    import torch

    cfg = cardiac_config(cfg)
    dcfg = cfg["deepcycle"]
    ids, cines, frame_ms = load_cines(manifest_path, cfg["size"])
    n, t = cines.shape[:2]
    small = (
        np.stack([prepare(c, dcfg["size"]) for c in cines])
        if dcfg["size"] != cfg["size"]
        else cines
    )
    rng = np.random.default_rng([int(seed), 0xDC])
    pick = np.sort(rng.choice(n, min(n, dcfg["train_subjects"]), replace=False))
    torch.set_num_threads(int(dcfg["threads"]))
    t0 = time.perf_counter()
    model, tlog = train(
        small[pick],
        stage1_steps=dcfg["stage1_steps"],
        stage2_steps=dcfg["stage2_steps"],
        batch=dcfg["batch_size"],
        lr=dcfg["learning_rate"],
        seed=int(seed),
        width=dcfg["width"],
    )
    log.info(
        "DeepCycle trained on %d of %d cines in %.1f s (stage-1 loss %.4f, stage-2 loss %.4f)",
        len(pick),
        n,
        tlog.seconds,
        tlog.stage1_loss,
        tlog.stage2_loss,
    )
    theta = np.concatenate([phases(model, small[i : i + 256]) for i in range(0, n, 256)])
    seconds = (time.perf_counter() - t0) / n
    truth = None if true_phase is None else read_true_phase(true_phase, ids, t)
    q = phase_qc(theta, truth)
    base = None if truth is None else phase_qc(frame_index_phase(n, t), truth)
    passed = (q["winding"] == 1) & (q["forward_share"] >= dcfg["min_forward_share"])
    rows = _rows(cines)
    out_dir = Path(out_dir)
    with ArrayStoreWriter(out_dir, rows.shape[1:], n, qc_columns=QC_COLUMNS) as store:
        for i, sid in enumerate(ids):
            metrics = {
                "frame_ms": float(frame_ms[i]),
                "winding": int(q["winding"][i]),
                "forward_share": float(q["forward_share"][i]),
                "qc_pass": int(passed[i]),
                "seconds": round(seconds, 5),
            }
            if truth is not None:
                metrics.update(
                    concordance=float(q["concordance"][i]),
                    error_deg=float(q["error_deg"][i]),
                    concordance_frame_index=float(base["concordance"][i]),
                    error_deg_frame_index=float(base["error_deg"][i]),
                )
            if not passed[i] and dcfg["on_qc_failure"] == "exclude":
                store.exclude(sid, "DeepCycle phase QC failed (winding or forward share)", metrics)
                continue
            grid = resample_to_grid(cines[i], theta[i])  # (T, H, W) on the common phase grid
            store.append(sid, np.moveaxis(grid, 0, -1), metrics)
        qc = store.qc_table()
    torch.save(model.state_dict(), out_dir / "registration_model.pt")
    summary = f"{int(passed.sum())} of {n} pass the phase QC (winding 1)"
    if truth is not None:
        summary += (
            f"; mean error vs the true phase {q['error_deg'].mean():.1f} deg "
            f"(frame-index baseline {base['error_deg'].mean():.1f} deg), median concordance "
            f"{np.median(q['concordance']):.3f}"
        )
    log.info("DeepCycle: %s", summary)
    write_qc_summary(out_dir, QC_COLUMNS)
    return qc

"""Cardiac cine array stores: ``native`` (frames in acquisition order) and ``deepcycle`` (every
cine aligned rigidly to the median-BMI exemplar's, then its frames resampled onto a common phase
grid by the cycle phase DeepCycle learns on the cohort).

Both stores hold, per person, the cine area-downsampled to ``cardiac.size`` x ``cardiac.size``
pixels and scaled by its own 99th percentile (the intensity gain removed identically in both
spaces), as rows (size, size, T): the image axes first, time last, like the NIfTI. ``native``
row k is acquisition frame k (whatever the start phase and heart rate) in the scanner's pose;
``deepcycle`` row k is phase 2 pi k / T of the learned cycle, in the exemplar's pose.

Rigid step of ``deepcycle`` (``deepcycle.rigid``, default on): the mean frame of every cine is
registered to the mean frame of the exemplar (the person with the median BMI, as for the DXA)
with ANTs ``antsRegistrationSyNQuickRepro[r]`` (rotation + translation, seeded,
single-threaded), and that one transform resamples every frame (linear) onto the exemplar's
grid before DeepCycle sees them. Why: the phase alone did not make the cardiac factors readable
(README, "Cardiac cine and DXA": with the heart's in-plane rotation and translation left in,
the wall-thickness and ejection-fraction signal is spread over different pixels in every
person, and PCA keeps pose and body size instead). Scale is not removed (the heart's size is a
planted factor). The similarity is measured inside a disc of ``deepcycle.rigid_roi_mm``
around the image centre (:func:`heart_roi`; short-axis planning centres the heart, and the
body around it does not move with the heart: on the whole image a high-BMI body outline pulled
the alignment off the heart). An alignment that lowers the mean frame's NCC with the
exemplar's, or leaves it below ``deepcycle.rigid_min_ncc``, is retried from
``deepcycle.rigid_retries`` further seeds, attempt k starting from the rotation
``deepcycle.rigid_starts_deg[k % len]`` (a search from no rotation misses hearts turned
~35-40 degrees from the exemplar's); the best attempt is kept, and a cine whose every attempt
lowered the NCC is left out (reason in qc.tsv), like one ANTs fails on. On the demo's 1,194
cines the recovered rotation was off the simulator's by more than 30 degrees for 40 cines on
the whole image with one seed, for 1 with the ROI, retries and rotated starts (README). Left
in, misaligned cines were the VoxelMorph store's outliers, up to 45 times as far from the mean
cine as the median person, and the autoencoder spent its capacity on them.

Every cine of a cohort must have the same number of frames (the stores stack them); a cine
with another count, no time axis or no frame interval stops the job naming the file and the
sample. The encoder's per-frame theta resamples a cine (``deepcycle.phase_harmonics`` null,
the default); with ``phase_harmonics`` set, 2 pi t / T plus one offset per cine and a smooth
warp read from that theta (``regwas.register.cine.deepcycle.smooth_phase``). QC per person
(``qc.tsv``): frame interval, the winding
number and share of forward steps of the encoder's per-frame theta (``winding`` should be 1),
and when the simulator's true phase is given (``truth/cardiac_phase.tsv``) the circular
concordance |mean exp(i (theta - phi))| of the resampling phase and of the frame-index phase
2 pi t / T (the baseline) with the true phase phi, and their absolute circular errors after
one cohort-wide offset (degrees). A person whose theta fails the QC
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
    smooth_phase,
    train,
)
from regwas.register.image.tables import read_image_manifest, write_qc_summary

log = logging.getLogger(__name__)

NATIVE_QC = ["frame_ms"]
RIGID_TRANSFORM = "antsRegistrationSyNQuickRepro[r]"
RIGID_QC = ["rigid_angle_deg", "rigid_shift_mm", "rigid_attempts", "ncc_before", "ncc_after"]
QC_COLUMNS = [
    "frame_ms",
    "winding",
    "forward_share",
    "qc_pass",
    "concordance",
    "error_deg",
    "concordance_frame_index",
    "error_deg_frame_index",
    *RIGID_QC,
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


def warp_frames(
    frames: np.ndarray,
    moving_affine: np.ndarray,
    fixed_shape: tuple[int, int],
    fixed_affine: np.ndarray,
    matrix: np.ndarray,
    translation: np.ndarray,
) -> np.ndarray:
    """Frames (T, X, Y) of a moving cine resampled (linear, 0 outside) onto the fixed grid by
    the rigid map x_moving = matrix @ x_fixed + translation (RAS world mm, in-plane)."""
    from scipy.ndimage import map_coordinates

    ii, jj = np.meshgrid(np.arange(fixed_shape[0]), np.arange(fixed_shape[1]), indexing="ij")
    vox = np.stack([ii.ravel(), jj.ravel()]).astype(float)
    world = fixed_affine[:2, :2] @ vox + fixed_affine[:2, 3:4]
    moving = np.asarray(matrix) @ world + np.asarray(translation, float)[:, None]
    mvox = np.linalg.solve(moving_affine[:2, :2], moving - moving_affine[:2, 3:4])
    out = np.empty((len(frames), *fixed_shape), np.float32)
    for t, frame in enumerate(frames):
        out[t] = map_coordinates(frame, mvox, order=1, mode="constant", cval=0.0).reshape(
            fixed_shape
        )
    return out


def load_cines_rigid(
    manifest_path: str | os.PathLike,
    samples_path: str | os.PathLike,
    size: int,
    seed: int,
    retries: int = 3,
    roi_mm: float | None = 50.0,
    min_ncc: float | None = 0.6,
    starts_deg: tuple[float, ...] = (0.0, 30.0, -30.0),
) -> tuple[list[str], np.ndarray, np.ndarray, list[dict], list[str]]:
    """Like :func:`load_cines`, every cine first aligned rigidly to the median-BMI exemplar
    (module docstring). Returns (ids, cines (N, T, size, size), frame intervals, per-person QC
    with the recovered angle (degrees), shift (mm) and NCC of the mean frame with the
    exemplar's before/after and the attempts made (an alignment that lowers that NCC is retried
    from ``retries`` further seeds: :func:`regwas.register.image.rigid.register_until_better`),
    error messages ("" when aligned; where ANTs failed or every attempt diverged, the cine is
    kept unaligned in ``cines`` and the caller leaves it out)). ``roi_mm``: the similarity (and
    the NCCs) only inside a disc of this radius around the centre of the exemplar's image
    (:func:`heart_roi`); None: the whole image. An alignment whose NCC after stays below
    ``min_ncc`` is retried too, attempt k starting from a rotation by ``starts_deg[k % len]``
    (the best attempt kept when none reaches it)."""
    from regwas.register.image.classical import ants_session
    from regwas.register.image.dxa import median_bmi_exemplar
    from regwas.register.image.metrics import ncc
    from regwas.register.image.nifti import Grid
    from regwas.register.image.rigid import register_rigid, register_until_better

    man = read_image_manifest(manifest_path, "cardiac")
    ids = man["sample_id"].astype(str).tolist()
    ex_id = median_bmi_exemplar(ids, samples_path)
    ex_row = man.iloc[ids.index(ex_id)]
    ex_frames, _, ex_affine = read_cine(ex_row.image, ex_id)
    fixed = ex_frames.mean(axis=0)
    grid = Grid((*fixed.shape, 1), ex_affine)
    roi = None if roi_mm is None else heart_roi(fixed.shape, ex_affine, roi_mm)
    log.info("cine exemplar: %s (median BMI of %d people)", ex_id, len(ids))
    cines, frame_ms, qcs, errors = None, np.empty(len(man)), [], []
    with ants_session(int(seed), 1):
        for i, row in enumerate(
            tqdm(man.itertuples(), total=len(man), desc="rigid cines", disable=None)
        ):
            frames, dt, affine = read_cine(row.image, row.sample_id)
            if cines is None:
                cines = np.empty((len(man), frames.shape[0], size, size), np.float32)
            elif frames.shape[0] != cines.shape[1]:
                raise InputError(
                    f"cine of sample {row.sample_id}: {row.image}: {frames.shape[0]} frames; "
                    f"the cines of a cohort need one frame count (sample {ids[0]} has "
                    f"{cines.shape[1]})"
                )
            mean = frames.mean(axis=0)
            before = ncc(mean, fixed, roi) if mean.shape == fixed.shape else float("nan")
            m_grid = Grid((*mean.shape, 1), affine)

            def attempt(start, frames=frames, mean=mean, m_grid=m_grid, affine=affine):
                res = register_rigid(
                    fixed,
                    None,
                    grid,
                    mean,
                    m_grid,
                    None,
                    RIGID_TRANSFORM,
                    metric_mask=roi,
                    start_deg=start,
                )
                warped = warp_frames(
                    frames, affine, fixed.shape, ex_affine, res.matrix, res.translation
                )
                return (res, warped), ncc(warped.mean(axis=0), fixed, roi)

            try:
                (res, warped), after, tries = register_until_better(
                    attempt, before, seed, retries, min_ncc=min_ncc, starts=starts_deg
                )
            except Exception as err:  # ITK's RuntimeError, RigidDiverged: record, leave out
                msg = f"rigid: {type(err).__name__}: {err}".replace("\n", " ")[:500]
                log.warning("cine rigid registration failed for %s: %s", row.sample_id, msg)
                cines[i] = prepare(frames, size)
                qcs.append({"ncc_before": before})
                errors.append(msg)
            else:
                cines[i] = prepare(warped, size)
                qcs.append(
                    {
                        "rigid_angle_deg": res.angle_deg,
                        "rigid_shift_mm": float(np.linalg.norm(res.translation)),
                        "rigid_attempts": tries,
                        "ncc_before": before,
                        "ncc_after": after,
                    }
                )
                errors.append("")
            frame_ms[i] = dt
    return ids, cines, frame_ms, qcs, errors


def heart_roi(shape: tuple[int, int], affine: np.ndarray, radius_mm: float) -> np.ndarray:
    """Boolean disc of ``radius_mm`` (world mm, the affine's pixel sizes) around the centre of
    a 2D image of ``shape``: where a short-axis cine's planning puts the heart."""
    spacing = np.linalg.norm(np.asarray(affine, float)[:2, :2], axis=0)
    axes = [(np.arange(n) - (n - 1) / 2.0) * sp for n, sp in zip(shape, spacing, strict=True)]
    x, y = np.meshgrid(*axes, indexing="ij")
    return x**2 + y**2 <= float(radius_mm) ** 2


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
    samples_path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Align every cine rigidly to the median-BMI exemplar (``deepcycle.rigid``; BMI from
    ``samples_path``), train DeepCycle on the cohort's cines (a seeded subset of at most
    ``deepcycle.train_subjects``), read every person's theta and resample their frames onto
    the common phase grid; write the store, ``qc.tsv``, ``qc_summary.tsv`` and the model
    (``registration_model.pt``) to ``out_dir``. A cine whose rigid registration fails, or
    diverges on every attempt, is left out (reason in qc.tsv). Returns the QC table."""
    import torch

    cfg = cardiac_config(cfg)
    dcfg = cfg["deepcycle"]
    if dcfg["rigid"]:
        if samples_path is None:
            raise InputError(
                "cardiac.deepcycle.rigid: the samples table (BMI, for the exemplar) is needed"
            )
        ids, cines, frame_ms, rigid_qc, rigid_err = load_cines_rigid(
            manifest_path,
            samples_path,
            cfg["size"],
            seed,
            dcfg["rigid_retries"],
            dcfg["rigid_roi_mm"],
            dcfg["rigid_min_ncc"],
            tuple(dcfg["rigid_starts_deg"]),
        )
    else:
        ids, cines, frame_ms = load_cines(manifest_path, cfg["size"])
        rigid_qc, rigid_err = [{}] * len(ids), [""] * len(ids)
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
        harmonics=dcfg["harmonics"],
    )
    log.info(
        "DeepCycle trained on %d of %d cines in %.1f s (stage-1 loss %.4f, stage-2 loss %.4f)",
        len(pick),
        n,
        tlog.seconds,
        tlog.stage1_loss,
        tlog.stage2_loss,
    )
    enc = np.concatenate([phases(model, small[i : i + 256]) for i in range(0, n, 256)])
    warp = dcfg["phase_harmonics"]
    theta = enc if warp is None else smooth_phase(enc, warp)[0]
    seconds = (time.perf_counter() - t0) / n
    truth = None if true_phase is None else read_true_phase(true_phase, ids, t)
    q = phase_qc(theta, truth)
    q.update(phase_qc(enc))  # winding and forward share: of the encoder's theta
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
                **rigid_qc[i],
            }
            if truth is not None:
                metrics.update(
                    concordance=float(q["concordance"][i]),
                    error_deg=float(q["error_deg"][i]),
                    concordance_frame_index=float(base["concordance"][i]),
                    error_deg_frame_index=float(base["error_deg"][i]),
                )
            if rigid_err[i]:
                store.exclude(sid, rigid_err[i], metrics)
                continue
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

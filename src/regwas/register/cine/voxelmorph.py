"""The cardiac ``voxelmorph`` and ``voxelmorph_jac`` stores: every cine of the ``deepcycle``
store (rigidly aligned to the median-BMI exemplar and resampled onto the common phase grid,
rows (size, size, T)) registered frame by frame to the exemplar's frame of the same phase, by
one 2D VoxelMorph (the brain's network, losses and training loop,
:mod:`regwas.register.image.voxelmorph`).

The exemplar is the person with the median BMI among the people the ``deepcycle`` store saw
(its qc.tsv, which lists those it left out too: the same person its rigid step aligned every
cine to). Because both frames of a pair are the same cycle phase, the network removes shape
(size, wall, position of the heart), not the contraction. Training pairs are every frame of a
seeded subset of ``cardiac.voxelmorph.train_subjects`` cines; the model is checkpointed and
resumed like the brain's. ``voxelmorph`` row: the warped frames (size, size, T);
``voxelmorph_jac`` row: log det J of each frame's displacement (size, size, T), where the
deformation that made the heart look like the exemplar's moved its size and wall thickness.

QC per person (``qc.tsv`` of both stores): ``ncc_before`` and ``ncc_after``, the mean over
frames of the NCC of the frame with the exemplar's frame of the same phase before (the
deepcycle frame) and after VoxelMorph; ``pct_nonpos_jac``, the percentage of pixels of all
frames whose det J <= 0 (folding); ``seconds``, VoxelMorph's time per cine. People the
deepcycle store left out stay left out with its reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

import numpy as np
from tqdm import tqdm

from regwas.config.schema import section
from regwas.errors import InputError

log = logging.getLogger(__name__)

QC_COLUMNS = ["seconds", "ncc_before", "ncc_after", "pct_nonpos_jac"]


def voxelmorph_config(cfg: dict | None) -> dict:
    """The ``cardiac.voxelmorph`` config section, validated, with defaults filled in."""
    return section("cardiac.voxelmorph", cfg)


def _open_store(store_dir: str | os.PathLike):
    from regwas.io.arraystore import ArrayStore

    store = ArrayStore(store_dir)
    shape = store.row_shape
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] < 2:
        raise InputError(
            f"{store.dir}: cine rows of shape {shape}; the cardiac VoxelMorph reads a deepcycle "
            "store of rows (size, size, frames)"
        )
    return store


def cine_exemplar(store, samples_path: str | os.PathLike) -> tuple[str, np.ndarray]:
    """(sample id, cine (size, size, T)) of the median-BMI person among the people the store
    saw (its qc.tsv when it has one, else its rows). InputError when that person is not in the
    store."""
    from regwas.register.image.dxa import median_bmi_exemplar

    qc = store.qc()
    seen = [str(s) for s in (qc["sample_id"] if qc is not None else store.sample_ids)]
    ex_id = median_bmi_exemplar(seen, samples_path)
    ids = [str(s) for s in store.sample_ids]
    if ex_id not in ids:
        why = ""
        if qc is not None:
            rec = qc[qc["sample_id"].astype(str) == ex_id]
            if len(rec) and isinstance(rec["error"].iloc[0], str) and rec["error"].iloc[0]:
                why = f" (left out: {rec['error'].iloc[0]})"
        raise InputError(
            f"{store.dir}: the cine exemplar, sample {ex_id} (median BMI in {samples_path}), is "
            f"not in the store{why}; the cardiac VoxelMorph registers every cine to it"
        )
    return ex_id, np.asarray(store.data[ids.index(ex_id)], np.float32)


def cine_frames(rows: np.ndarray) -> np.ndarray:
    """Cine rows (N, H, W, T) -> frames (N * T, H, W), person by person, frame by frame."""
    rows = np.asarray(rows, np.float32)
    return np.moveaxis(rows, -1, 1).reshape(-1, *rows.shape[1:3])


def train_cardiac_voxelmorph(
    store_dir: str | os.PathLike,
    samples_path: str | os.PathLike,
    cfg: dict | None,
    seed: int,
    out: str | os.PathLike,
    history_path: str | os.PathLike | None = None,
) -> dict:
    """Train one 2D VoxelMorph on (frame, exemplar frame of the same phase) pairs of a seeded
    subset of the deepcycle store's cines; write the model to ``out`` (a checkpoint beside it
    is resumed when it is of the same training) and the per-step history to
    ``history_path`` (TSV)."""
    from regwas.register.image.voxelmorph import (
        _store_fingerprint,
        build,
        log_training,
        n_params,
        pick_device,
        train,
    )

    cfg = voxelmorph_config(cfg)
    store = _open_store(store_dir)
    ex_id, exemplar = cine_exemplar(store, samples_path)
    t = store.row_shape[2]
    rng = np.random.default_rng([int(seed), 0x7A])
    pick = np.sort(rng.choice(store.n, min(store.n, cfg["train_subjects"]), replace=False))
    frames = cine_frames(store.data[pick])
    fixed = np.moveaxis(exemplar, -1, 0)  # (T, H, W): the exemplar's frame of each phase
    phase = np.tile(np.arange(t), len(pick))
    model = build(2, cfg)
    log.info(
        "cardiac VoxelMorph: %d frames of %d of %d cines %s to exemplar %s, %d steps of %d, "
        "%d parameters, device %s",
        len(frames),
        len(pick),
        store.n,
        store.row_shape,
        ex_id,
        cfg["steps"],
        cfg["batch_size"],
        n_params(model),
        pick_device(cfg),
    )
    fingerprint = {
        **_store_fingerprint(store, exemplar),
        "train_rows": [int(i) for i in pick],
    }
    t0 = time.perf_counter()
    res = train(frames, fixed, cfg, seed, out, fingerprint=fingerprint, template_index=phase)
    log_training(res, "cardiac VoxelMorph", t0, history_path)
    return {**res, "exemplar": ex_id}


def frame_ncc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NCC of each pair of frames (N, H, W) of ``a`` and ``b`` (as ``metrics.ncc``, one frame
    at a time; NaN for a constant frame)."""
    x = np.asarray(a, np.float64).reshape(len(a), -1)
    y = np.asarray(b, np.float64).reshape(len(b), -1)
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (x * y).sum(axis=1) / den, np.nan)


def jacobian_determinants(disp: np.ndarray) -> np.ndarray:
    """det(I + Du) of 2D displacements (N, 2, H, W) in pixels, (N, H, W): central differences,
    as ``metrics.jacobian_determinant`` of each field."""
    u = np.asarray(disp, np.float64)
    d0 = np.gradient(u[:, 0], axis=(1, 2))
    d1 = np.gradient(u[:, 1], axis=(1, 2))
    return (1 + d0[0]) * (1 + d1[1]) - d0[1] * d1[0]


def apply_cardiac_voxelmorph(
    store_dir: str | os.PathLike,
    samples_path: str | os.PathLike,
    model_path: str | os.PathLike,
    cfg: dict | None,
    out_dirs: dict[str, str | os.PathLike],
) -> None:
    """Register every frame of every cine of the deepcycle store to the exemplar's frame of the
    same phase with a trained model: stores ``voxelmorph`` (warped cines) and
    ``voxelmorph_jac`` (log det J per frame), each with qc.tsv and qc_summary.tsv (module
    docstring). A cine whose output is not finite is left out (``on_failure: exclude``) or
    stops the job (``error``)."""
    from regwas.io.arraystore import ArrayStoreWriter
    from regwas.register.image.metrics import pct_nonpositive, safe_log
    from regwas.register.image.tables import write_qc_summary
    from regwas.register.image.voxelmorph import _read_qc, load_model, pick_device, register_rows

    cfg = voxelmorph_config(cfg)
    store = _open_store(store_dir)
    ex_id, exemplar = cine_exemplar(store, samples_path)
    h, w, t = store.row_shape
    device = pick_device(cfg)
    model = load_model(model_path, device).to(device)
    if model.unet.dims != 2:
        raise InputError(f"{model_path}: a {model.unet.dims}D VoxelMorph; the cine needs 2D")
    fixed = np.moveaxis(exemplar, -1, 0)
    in_qc = _read_qc(store_dir)
    ids = [str(s) for s in store.sample_ids]
    order = list(in_qc) if in_qc else ids
    position = {sid: k for k, sid in enumerate(ids)}
    per_batch = max(1, cfg["batch_infer"] // t)
    log.info(
        "cardiac VoxelMorph inference: %d cines of %d frames to exemplar %s on %s",
        store.n,
        t,
        ex_id,
        device,
    )
    excluded = 0
    with contextlib.ExitStack() as stack:
        writers = {
            sp: stack.enter_context(
                ArrayStoreWriter(d, store.row_shape, len(order), qc_columns=QC_COLUMNS)
            )
            for sp, d in out_dirs.items()
        }
        pending = iter(order)

        def flush(until: str | None) -> None:
            """Record the people the input left out, in its order, up to ``until``."""
            for sid in pending:
                if sid == until:
                    return
                if sid not in position:
                    err = str(in_qc[sid].get("error") or "not in the deepcycle store")
                    for wr in writers.values():
                        wr.exclude(sid, err)

        for start in tqdm(range(0, store.n, per_batch), desc="cine VoxelMorph", disable=None):
            rows = np.asarray(store.data[start : start + per_batch], np.float32)
            t0 = time.perf_counter()
            moving, targets = cine_frames(rows), np.tile(fixed, (len(rows), 1, 1))
            warped, disp = register_rows(model, moving, targets)
            seconds = (time.perf_counter() - t0) / len(rows)
            ncc_before = frame_ncc(moving, targets).reshape(len(rows), t).mean(axis=1)
            ncc_after = frame_ncc(warped, targets).reshape(len(rows), t).mean(axis=1)
            dets = np.moveaxis(jacobian_determinants(disp).reshape(len(rows), t, h, w), 1, -1)
            warped = np.moveaxis(warped.reshape(len(rows), t, h, w), 1, -1)
            for k, sid in enumerate(ids[start : start + len(rows)]):
                if sid in in_qc:
                    flush(sid)
                det = dets[k]
                qc = {"seconds": round(seconds, 5), "ncc_before": float(ncc_before[k])}
                if not (np.isfinite(warped[k]).all() and np.isfinite(det).all()):
                    if cfg["on_failure"] == "error":
                        raise RuntimeError(
                            f"cardiac VoxelMorph: non-finite output for sample {sid}"
                        )
                    excluded += 1
                    for wr in writers.values():
                        wr.exclude(sid, "VoxelMorph: non-finite output", qc)
                    continue
                qc.update(
                    ncc_after=float(ncc_after[k]),
                    pct_nonpos_jac=pct_nonpositive(det),
                )
                if "voxelmorph" in writers:
                    writers["voxelmorph"].append(sid, warped[k], qc)
                if "voxelmorph_jac" in writers:
                    writers["voxelmorph_jac"].append(sid, safe_log(det), qc)
        flush(None)
    log.info("cardiac VoxelMorph: %d cines registered, %d left out", store.n - excluded, excluded)
    for d in out_dirs.values():
        write_qc_summary(d, QC_COLUMNS)

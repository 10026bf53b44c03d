"""DXA array stores: ``native`` (the images as scanned) and ``rigid`` (ANTs rigid to an exemplar).

Every DXA image of a cohort must lie on one grid (the first image's shape and pixel size: a
scanner's whole-body projection has a fixed field of view); another shape stops the job with
the file and sample named. Attenuation is kept as scanned (no intensity scaling: bone mineral
density *is* the intensity). The exemplar is the person with the median BMI among the imaged
(the seed paper's choice for its exemplars; ties: the first in manifest order). ``rigid``
registers every image to it with :func:`regwas.register.image.rigid.register_rigid`; QC as for
the brain: NCC with the exemplar inside its body mask before/after, mean Dice of the bone and
soft-tissue labels before/after, seconds per registration. A subject whose registration raises
is recorded in qc.tsv and left out (``dxa.on_failure: exclude``) or stops the job (``error``).
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.arraystore import ArrayStoreWriter
from regwas.io.tables import read_tsv
from regwas.register.image.metrics import mean_dice, ncc
from regwas.register.image.nifti import Grid, read_image
from regwas.register.image.tables import read_image_manifest, write_qc_summary

log = logging.getLogger(__name__)

QC_COLUMNS = ["seconds", "attempts", "ncc_before", "ncc_after", "dice_before", "dice_after"]


def dxa_config(cfg: dict | None) -> dict:
    """The ``dxa`` config section, validated against the schema with defaults filled in."""
    return section("dxa", cfg)


def median_bmi_exemplar(ids: list[str], samples_path: str | os.PathLike) -> str:
    """The person among ``ids`` with the median BMI (samples table column ``bmi``; the lower
    median, first in ``ids`` order on ties); the first of ``ids`` when no BMI is known."""
    samples = read_tsv(samples_path, dtype={"sample_id": str})
    if "bmi" not in samples.columns:
        log.warning("%s has no bmi column: the exemplar is the first person", samples_path)
        return ids[0]
    bmi = pd.to_numeric(samples.set_index("sample_id")["bmi"], errors="coerce")
    values = bmi.reindex(ids).dropna()
    if values.empty:
        return ids[0]
    ranked = values.sort_values(kind="stable")
    return str(ranked.index[(len(ranked) - 1) // 2])


class DxaImage:
    """One person's DXA image (and labels), checked against the common grid."""

    def __init__(self, row, grid: Grid | None):
        self.sample_id = str(row.sample_id)
        arr, g = read_image(row.image, self.sample_id, "DXA image")
        if g.dims != 2:
            raise InputError(
                f"DXA image of sample {self.sample_id}: {row.image}: a 2D projection is "
                f"expected, got shape {g.shape}"
            )
        if grid is not None and not g.matches(grid):
            raise InputError(
                f"DXA image of sample {self.sample_id}: {row.image}: shape {g.shape[:2]} / "
                f"pixel size {np.round(g.spacing[:2], 3).tolist()} mm differ from the other "
                f"DXA images' {grid.shape[:2]} / {np.round(grid.spacing[:2], 3).tolist()} mm "
                "(the first image of the manifest)"
            )
        self.grid = g
        self.image = arr.reshape(g.array_shape)
        self.labels = None
        if row.labels is not None:
            lab, lg = read_image(row.labels, self.sample_id, "DXA label image", labels=True)
            if not lg.matches(g):
                raise InputError(
                    f"DXA label image of sample {self.sample_id}: {row.labels}: grid "
                    f"{lg.shape} differs from its image's {g.shape}"
                )
            self.labels = lab.reshape(g.array_shape)


def _before(img: DxaImage, ex: DxaImage) -> dict:
    mask = None if ex.labels is None else ex.labels > 0
    qc = {"ncc_before": ncc(img.image, ex.image, mask)}
    if img.labels is not None and ex.labels is not None:
        qc["dice_before"] = mean_dice(img.labels, ex.labels)
    return qc


def _exemplar(man: pd.DataFrame, samples_path) -> tuple[DxaImage, Grid]:
    grid = DxaImage(man.iloc[0], None).grid
    sid = median_bmi_exemplar(man["sample_id"].tolist(), samples_path)
    row = man[man["sample_id"] == sid].iloc[0]
    log.info("DXA exemplar: %s (median BMI of %d people)", sid, len(man))
    return DxaImage(row, grid), grid


def build_dxa_native(
    manifest_path: str | os.PathLike,
    samples_path: str | os.PathLike,
    out_dir: str | os.PathLike,
) -> None:
    """The native store: every image as scanned (N x X x Y); QC before registration."""
    man = read_image_manifest(manifest_path, "dxa")
    ex, grid = _exemplar(man, samples_path)
    with ArrayStoreWriter(out_dir, grid.array_shape, len(man), qc_columns=QC_COLUMNS) as store:
        for row in tqdm(man.itertuples(), total=len(man), desc="native DXA", disable=None):
            img = DxaImage(row, grid)
            store.append(img.sample_id, img.image, _before(img, ex))
    write_qc_summary(out_dir, QC_COLUMNS)


def _rigid(ex: DxaImage, grid: Grid, img: DxaImage, transform: str, start_deg: float = 0.0):
    """One rigid registration of ``img`` to the exemplar: (result, NCC after)."""
    from regwas.register.image.rigid import register_rigid

    res = register_rigid(
        ex.image, ex.labels, grid, img.image, img.grid, img.labels, transform, start_deg=start_deg
    )
    return res, res.qc["ncc_after"]


def build_dxa_rigid(
    manifest_path: str | os.PathLike,
    samples_path: str | os.PathLike,
    cfg: dict | None,
    seed: int,
    out_dir: str | os.PathLike,
) -> pd.DataFrame:
    """The rigid store: every image registered rigidly (``dxa.rigid.transform``) to the
    median-BMI exemplar with ANTs, seeded and single-threaded; one that lowers the NCC with the
    exemplar is retried from ``dxa.rigid.retries`` further seeds and fails when every attempt
    does (:func:`regwas.register.image.rigid.register_until_better`). Returns the QC table."""
    from regwas.register.image.classical import ants_session
    from regwas.register.image.rigid import register_until_better

    cfg = dxa_config(cfg)
    man = read_image_manifest(manifest_path, "dxa")
    ex, grid = _exemplar(man, samples_path)
    failed = 0
    t0 = time.perf_counter()
    with (
        ArrayStoreWriter(out_dir, grid.array_shape, len(man), qc_columns=QC_COLUMNS) as store,
        ants_session(seed, cfg["threads"]),
    ):
        for row in tqdm(man.itertuples(), total=len(man), desc="rigid DXA", disable=None):
            img = DxaImage(row, grid)
            before = _before(img, ex)
            try:
                res, _, tries = register_until_better(
                    lambda start, img=img: _rigid(ex, grid, img, cfg["rigid"]["transform"], start),
                    before["ncc_before"],
                    seed,
                    cfg["rigid"]["retries"],
                    cfg["threads"],
                )
            except Exception as err:  # ITK's RuntimeError, RigidDiverged: record and go on
                if cfg["on_failure"] == "error":
                    raise
                failed += 1
                msg = f"{type(err).__name__}: {err}".replace("\n", " ")[:500]
                log.warning("DXA rigid registration failed for %s: %s", img.sample_id, msg)
                store.exclude(img.sample_id, msg, before)
                continue
            res.qc["attempts"] = tries
            qc = {**before, **{k: v for k, v in res.qc.items() if k in QC_COLUMNS}}
            store.append(img.sample_id, res.image, qc)
        qc_table = store.qc_table()
    log.info(
        "DXA rigid: %d people in %.1f s, %d failed and excluded",
        len(man),
        time.perf_counter() - t0,
        failed,
    )
    write_qc_summary(out_dir, QC_COLUMNS)
    return qc_table

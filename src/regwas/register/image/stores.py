"""Brain (image) array stores: the template, the native store and chunked ANTs registration.

The common grid is the grid of the manifest's first image (the simulated cohort's images all
lie on the 2 mm MNI152 grid or one axial slice of it). With ``grid: strict`` (default) every
image must lie on it, otherwise InputError names the file and sample; ``grid: resample``
resamples other grids onto it in world space. Intensities are scaled per image
(``normalise: p99``: divided by the 99th percentile of the non-zero voxels) identically in
every space, so spaces differ only by geometry.

Registration runs in chunks of ``chunk_size`` subjects (one Snakemake job each): every chunk
writes one array store per ANTs space; :func:`gather_chunks` concatenates them in manifest
order into ``results/brain/{space}/`` and writes ``qc_summary.tsv``. A subject whose
registration raises is recorded in qc.tsv with its error and left out (``on_failure:
exclude``) or stops the job (``error``); bad input (missing, corrupt, NaN, wrong grid) always
stops with the file and sample named.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.arraystore import QC, SAMPLES, ArrayStore, ArrayStoreWriter
from regwas.io.atomic import atomic_path
from regwas.io.mni import load_template
from regwas.io.tables import read_tsv
from regwas.register.image.metrics import mean_dice, ncc
from regwas.register.image.nifti import Grid, read_image, resample_to_grid
from regwas.register.image.tables import QC_COLUMNS, manifest_path_resolver, write_qc_summary

log = logging.getLogger(__name__)

TEMPLATE_IMAGE, TEMPLATE_LABELS = "template.nii.gz", "template_dseg.nii.gz"
# not a space: the tissue labels warped by the affine stage (uint8), written beside the
# ants_affine store when asked for, so that VoxelMorph (which starts from the ants_affine
# images) can report the Dice of the labels it warps
AFFINE_LABELS = "ants_affine_labels"


def brain_config(cfg: dict | None) -> dict:
    """The ``brain`` config section, validated against the schema with defaults filled in."""
    return section("brain", cfg)


# --------------------------------------------------------------------------- manifest


def read_manifest(path: str | os.PathLike, cfg: dict) -> pd.DataFrame:
    """sample_id, image (the configured contrast) and labels (or None) of a brain manifest."""
    man = read_tsv(path, dtype=str)
    column = "path" if cfg["contrast"] == "T1w" else "t2_path"
    for col in ("sample_id", column):
        if col not in man.columns:
            raise InputError(f"brain manifest {path}: missing column {col!r}")
    if len(man) == 0:
        raise InputError(f"brain manifest {path}: no rows")
    resolve = manifest_path_resolver(path)
    out = pd.DataFrame({"sample_id": man["sample_id"].astype(str)})
    out["image"] = [resolve(p) for p in man[column]]
    missing = out["image"].isna()
    if missing.any():
        raise InputError(
            f"brain manifest {path}: sample {out.loc[missing, 'sample_id'].iloc[0]} has no {column}"
        )
    if cfg["dice"]:
        if "label_path" not in man.columns:
            raise InputError(
                f"brain manifest {path}: Dice QC needs a label_path column (or brain.dice: false)"
            )
        out["labels"] = [resolve(p) for p in man["label_path"]]
        if out["labels"].isna().any():
            sid = out.loc[out["labels"].isna(), "sample_id"].iloc[0]
            raise InputError(f"brain manifest {path}: sample {sid} has no label_path (Dice QC)")
    else:
        out["labels"] = None
    if out["sample_id"].duplicated().any():
        raise InputError(f"brain manifest {path}: duplicated sample ids")
    return out


def normalise_intensity(arr: np.ndarray, method: str) -> np.ndarray:
    """Scale an image by the 99th percentile of its non-zero voxels (``p99``) or not (``none``)."""
    arr = np.asarray(arr, dtype=np.float32)
    if method == "none":
        return arr
    nz = arr[arr > 0]
    scale = float(np.percentile(nz, 99)) if nz.size else 0.0
    return arr / scale if scale > 0 else arr


class Subject:
    """One person's image (and labels) read, checked against the common grid and normalised."""

    def __init__(self, row, grid: Grid, cfg: dict):
        self.sample_id = str(row.sample_id)
        arr, g = read_image(row.image, self.sample_id, f"{cfg['contrast']} image")
        self._check_grid(g, grid, row.image, cfg)
        self.grid = g
        self.image = normalise_intensity(arr, cfg["normalise"])
        self.labels = None
        if row.labels is not None:
            lab, lg = read_image(row.labels, self.sample_id, "label image", labels=True)
            if not lg.matches(g):
                raise InputError(
                    f"label image of sample {self.sample_id}: {row.labels}: grid {lg.shape} "
                    f"differs from its image's {g.shape}"
                )
            self.labels = lab
        self.native = resample_to_grid(self.image, g, grid)
        self.native_labels = (
            None if self.labels is None else resample_to_grid(self.labels, g, grid, labels=True)
        )

    def _check_grid(self, g: Grid, grid: Grid, path, cfg: dict) -> None:
        if g.dims != grid.dims:
            raise InputError(
                f"{cfg['contrast']} image of sample {self.sample_id}: {path}: {g.dims}D image "
                f"(shape {g.shape}); the brain modality's images are {grid.dims}D {grid.shape}"
            )
        if cfg["grid"] == "strict" and not g.matches(grid):
            raise InputError(
                f"{cfg['contrast']} image of sample {self.sample_id}: {path}: shape {g.shape} / "
                f"affine differ from the common grid {grid.shape} (first image of the manifest); "
                "set brain.grid: resample to resample it"
            )


def common_grid(manifest: pd.DataFrame) -> Grid:
    """The grid of the manifest's first image."""
    row = manifest.iloc[0]
    return read_image(row["image"], row["sample_id"])[1]


# --------------------------------------------------------------------------- template


def _mni_template(grid: Grid, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """nilearn's MNI152 2009a (2 mm) T1 or T2-like image and tissue labels on ``grid``."""
    tpl = load_template()
    src = Grid(tuple(tpl.t1.shape), tpl.affine)  # type: ignore[arg-type]
    image = tpl.t1 if cfg["contrast"] == "T1w" else tpl.t2
    ijk = np.indices(grid.shape, dtype=np.float64).reshape(3, -1)
    vox = np.linalg.inv(src.affine) @ grid.affine
    coords = vox[:3, :3] @ ijk + vox[:3, 3:4]
    from scipy import ndimage as ndi

    img = ndi.map_coordinates(image, coords, order=1, mode="constant", prefilter=False)
    lab = ndi.map_coordinates(tpl.labels, coords, order=0, mode="constant")
    shape = grid.array_shape
    return normalise_intensity(img.reshape(shape), cfg["normalise"]), lab.reshape(shape)


def _cohort_template(
    subjects: list[Subject], grid: Grid, cfg: dict, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """ANTs template (antspyx build_template) of a subset; labels by majority vote."""
    import tempfile

    import ants

    from regwas.register.image.classical import ants_session

    tc = cfg["template"]
    with ants_session(seed, cfg["ants"]["threads"]), tempfile.TemporaryDirectory() as tmp:
        images = [grid.to_ants(s.native) for s in subjects]
        tpl = ants.build_template(
            image_list=images,
            iterations=tc["iterations"],
            type_of_transform=tc["transform"],
            output_dir=tmp,
        )
        template = normalise_intensity(grid.from_ants(tpl), cfg["normalise"])
        if any(s.native_labels is None for s in subjects):
            return template, None
        votes = np.zeros((5, *grid.array_shape), np.int32)
        fixed = grid.to_ants(template)
        for k, s in enumerate(subjects):
            reg = ants.registration(
                fixed, images[k], tc["transform"], outprefix=os.path.join(tmp, f"lab{k}_")
            )
            lab = ants.apply_transforms(
                fixed,
                grid.to_ants(s.native_labels),
                reg["fwdtransforms"],
                interpolator="nearestNeighbor",
            )
            arr = np.clip(grid.from_ants(lab).round().astype(int), 0, 4)
            for v in range(5):
                votes[v] += arr == v
    return template, votes.argmax(axis=0).astype(np.float32)


def build_template(
    manifest_path: str | os.PathLike, cfg: dict | None, seed: int, out_dir: str | os.PathLike
) -> None:
    """Write the registration template (``template.nii.gz``) and its labels on the common grid.

    ``template.source: mni`` resamples nilearn's MNI152 (and the simulator's tissue labels)
    onto the grid; ``cohort`` builds an ANTs template from a seeded subset of
    ``template.subset`` subjects (``iterations`` rounds of ``transform``), listed in
    ``subset.tsv``.
    """
    cfg = brain_config(cfg)
    man = read_manifest(manifest_path, cfg)
    grid = common_grid(man)
    t0 = time.perf_counter()
    if cfg["template"]["source"] == "mni":
        image, labels = _mni_template(grid, cfg)
    else:
        n = min(cfg["template"]["subset"], len(man))
        pick = np.sort(np.random.default_rng([seed, 0x7E3]).choice(len(man), n, replace=False))
        subjects = [Subject(r, grid, cfg) for r in man.iloc[pick].itertuples()]
        image, labels = _cohort_template(subjects, grid, cfg, seed)
    out = Path(out_dir)
    if cfg["template"]["source"] == "cohort":  # who the template was built from
        with atomic_path(out / "subset.tsv") as tmp:
            man.iloc[pick][["sample_id"]].to_csv(tmp, sep="\t", index=False)
    grid.save(image, out / TEMPLATE_IMAGE)
    if labels is not None:
        grid.save(labels, out / TEMPLATE_LABELS, dtype=np.uint8)
    log.info(
        "template (%s) on grid %s written in %.1f s",
        cfg["template"]["source"],
        grid.shape,
        time.perf_counter() - t0,
    )


def read_template(template_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None, Grid]:
    d = Path(template_dir)
    image, grid = read_image(d / TEMPLATE_IMAGE, kind="template")
    labels = None
    if (d / TEMPLATE_LABELS).exists():
        labels = read_image(d / TEMPLATE_LABELS, kind="template labels", labels=True)[0]
        labels = labels.reshape(grid.array_shape)
    return image.reshape(grid.array_shape), labels, grid


# --------------------------------------------------------------------------- stores


def _before_qc(s: Subject, template: np.ndarray, t_labels: np.ndarray | None) -> dict:
    qc = {"ncc_before": ncc(s.native, template, None if t_labels is None else t_labels > 0)}
    if t_labels is not None and s.native_labels is not None:
        qc["dice_before"] = mean_dice(s.native_labels, t_labels)
    return qc


def build_native(
    manifest_path: str | os.PathLike,
    template_dir: str | os.PathLike,
    cfg: dict | None,
    out_dir: str | os.PathLike,
) -> None:
    """The native store: every image resampled onto the common grid without alignment."""
    cfg = brain_config(cfg)
    man = read_manifest(manifest_path, cfg)
    template, t_labels, grid = read_template(template_dir)
    with ArrayStoreWriter(out_dir, grid.array_shape, len(man), qc_columns=QC_COLUMNS) as store:
        for row in tqdm(man.itertuples(), total=len(man), desc="native brain", disable=None):
            s = Subject(row, grid, cfg)
            store.append(s.sample_id, s.native, _before_qc(s, template, t_labels))
    write_qc_summary(out_dir)


def assign_chunks(manifest_path: str | os.PathLike, chunk_size: int, out: str | os.PathLike):
    """Write the chunk table (sample_id, chunk) of a manifest: contiguous runs of chunk_size."""
    man = read_tsv(manifest_path, dtype=str)
    table = pd.DataFrame(
        {"sample_id": man["sample_id"], "chunk": np.arange(len(man)) // int(chunk_size)}
    )
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return table


def n_chunks(chunks_path: str | os.PathLike) -> int:
    return int(read_tsv(chunks_path)["chunk"].max()) + 1


def register_chunk(
    manifest_path: str | os.PathLike,
    chunks_path: str | os.PathLike,
    chunk: int,
    template_dir: str | os.PathLike,
    spaces: Iterable[str],
    cfg: dict | None,
    seed: int,
    out_dir: str | os.PathLike,
) -> pd.DataFrame:
    """Register the subjects of one chunk with ANTs; one array store per space in out_dir/{space}.

    Returns the QC table of the chunk (the first space's).
    """
    from regwas.register.image.classical import ANTS_SPACES, ants_session, register_ants

    cfg = brain_config(cfg)
    requested = list(spaces)
    spaces = [s for s in requested if s in ANTS_SPACES]
    if not spaces:
        raise InputError(f"register_chunk: no ANTs space among {requested}")
    with_labels = AFFINE_LABELS in requested
    if with_labels and ("ants_affine" not in spaces or not cfg["dice"]):
        raise InputError(
            f"register_chunk: {AFFINE_LABELS} needs the ants_affine space and brain.dice: true"
        )
    man = read_manifest(manifest_path, cfg)
    ids = set(read_tsv(chunks_path, dtype={"sample_id": str}).query("chunk == @chunk")["sample_id"])
    man = man[man["sample_id"].isin(ids)]
    template, t_labels, grid = read_template(template_dir)
    out_dir = Path(out_dir)
    failed = 0
    with contextlib.ExitStack() as stack:
        stores = [
            stack.enter_context(
                ArrayStoreWriter(out_dir / sp, grid.array_shape, len(man), qc_columns=QC_COLUMNS)
            )
            for sp in spaces
        ]
        label_store = None
        if with_labels:
            label_store = stack.enter_context(
                ArrayStoreWriter(
                    out_dir / AFFINE_LABELS,
                    grid.array_shape,
                    len(man),
                    dtype=np.uint8,
                    qc_columns=QC_COLUMNS,
                )
            )
        stack.enter_context(ants_session(seed, cfg["ants"]["threads"]))
        for row in tqdm(man.itertuples(), total=len(man), desc=f"ANTs chunk {chunk}", disable=None):
            s = Subject(row, grid, cfg)
            before = _before_qc(s, template, t_labels)
            try:
                res = register_ants(
                    template,
                    t_labels,
                    grid,
                    s.image,
                    s.grid,
                    s.labels,
                    spaces,
                    cfg["ants"],
                    native=s.native,
                )
            except Exception as err:  # ITK raises RuntimeError; record and go on
                if cfg["on_failure"] == "error":
                    raise
                failed += 1
                msg = f"{type(err).__name__}: {err}".replace("\n", " ")[:500]
                log.warning("ANTs registration failed for %s: %s", s.sample_id, msg)
                for store in [*stores, *([label_store] if label_store else [])]:
                    store.exclude(s.sample_id, msg, before)
                continue
            for sp, store in zip(spaces, stores, strict=True):
                store.append(s.sample_id, res.rows[sp], {**before, **res.qc[sp]})
            if label_store is not None:
                label_store.append(
                    s.sample_id, res.labels["ants_affine"], {**before, **res.qc["ants_affine"]}
                )
        qc = stores[0].qc_table()
    log.info("ANTs chunk %d: %d subjects, %d failed and excluded", chunk, len(man), failed)
    return qc


def gather_chunks(
    chunk_dirs: Iterable[str | os.PathLike], out_dir: str | os.PathLike
) -> pd.DataFrame:
    """Concatenate per-chunk stores of one space (in chunk order) into one store + qc.tsv."""
    chunk_dirs = [Path(d) for d in chunk_dirs]
    capacity = 0
    shape = dtype = None
    for d in chunk_dirs:
        qc = read_tsv(d / QC, dtype={"sample_id": str})
        capacity += len(qc)
        if shape is None and len(read_tsv(d / SAMPLES)) > 0:
            first = ArrayStore(d)
            shape, dtype = first.row_shape, first.data.dtype
    if shape is None:
        raise InputError(f"{out_dir}: every subject failed registration (see the chunks' qc.tsv)")
    with ArrayStoreWriter(out_dir, shape, capacity, dtype=dtype, qc_columns=QC_COLUMNS) as store:
        for d in chunk_dirs:
            qc = read_tsv(d / QC, dtype={"sample_id": str})
            rows = {}
            if len(read_tsv(d / SAMPLES)) > 0:
                chunk_store = ArrayStore(d)
                rows = {sid: i for i, sid in enumerate(chunk_store.sample_ids)}
            for rec in qc.to_dict("records"):
                sid, ok, error = rec.pop("sample_id"), rec.pop("ok"), rec.pop("error")
                metrics = {k: v for k, v in rec.items() if not pd.isna(v)}
                if ok and sid in rows:
                    store.append(sid, chunk_store.data[rows[sid]], metrics)
                else:
                    store.exclude(sid, str(error), metrics)
        qc_all = store.qc_table()
    n_bad = int((~qc_all["ok"].astype(bool)).sum())
    log.info("%s: %d subjects, %d excluded (failed registration)", out_dir, len(qc_all), n_bad)
    write_qc_summary(out_dir)
    return qc_all

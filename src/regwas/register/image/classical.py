"""Classical registration with ANTs (antspyx): affine and SyN of one image to a template.

One ``ants.registration`` call per subject gives every ANTs space: with SyN requested, the
SyN transform type runs an affine stage then the SyN stage, and ``ants_affine`` is the image
warped by the affine stage alone (the same affine that SyN starts from); ``ants_syn`` is the
image warped by both; ``ants_syn_jac`` is the log-Jacobian determinant of the SyN
(non-rigid) warp alone, on the template grid: where the subject's anatomy is larger than the
template's, log J > 0. Labels are warped with nearest neighbour.

Determinism: ANTs samples metric points at random and splits work over ITK threads. With
``random_seed`` set and one ITK thread per registration, the plain ``Affine`` and ``SyN``
types gave bit-identical output across processes on this machine (measured); the ``*Repro*``
types (e.g. ``antsRegistrationSyNQuickRepro[s]``) are deterministic by construction and cost
about 2x the time (0.55 s vs 0.27 s per 2D pair, Dice 0.95 vs 0.90; benchmarks/README.md).
Divergence: ANTs' affine stage occasionally ends in a wrong optimum (in the 2,000-person demo,
one subject's NCC to the template fell from 0.33 to 0.06, with a 1.5x stretch and a 29 mm
shift; its embedding was then so far from everyone else's that the rare variants it carried
reached p = 1e-20: 11 false loci). A registration whose NCC to the template, in any ANTs
space, ends below ``min_ncc`` or below its NCC before registration is retried once from
``ants.affine_initializer`` (a multi-start rotation search, then a local search): that
subject then reached NCC 0.96. If the retry is still below, the registration fails with the
reason and ``register_chunk`` records and excludes the subject (``on_failure``).

Transform files go to a temporary folder that is deleted after each subject (antspy never
deletes its own).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from regwas.register.image.metrics import mean_dice, ncc, pct_nonpositive, safe_log
from regwas.register.image.nifti import Grid

log = logging.getLogger(__name__)

ANTS_SPACES = ("ants_affine", "ants_syn", "ants_syn_jac")
SYN_SPACES = ("ants_syn", "ants_syn_jac")


@contextlib.contextmanager
def ants_session(seed: int, threads: int = 1) -> Iterator[None]:
    """Seed ANTs and set its ITK thread count for the registrations inside the block.

    ITK reads ``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS`` once per process, at its first
    multithreaded call: the rule scripts set it before anything touches ITK; here it only
    takes effect if ITK has not run yet in this process.
    """
    old = os.environ.get("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(int(threads))
    import ants.config as ants_config

    old_det, old_seed = ants_config._deterministic, ants_config._random_seed
    ants_config.set_ants_deterministic(on=False, seed_value=int(seed))
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(int(threads))
    try:
        yield
    finally:
        ants_config._deterministic, ants_config._random_seed = old_det, old_seed
        if old is None:
            os.environ.pop("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", None)
        else:
            os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = old


@dataclass
class AntsResult:
    """Rows (on the template grid, float32) and QC per requested space of one subject."""

    rows: dict[str, np.ndarray] = field(default_factory=dict)
    qc: dict[str, dict] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # warped labels (nearest)
    displacement: np.ndarray | None = None  # the SyN warp (D, *S), voxels (keep_warp=True)
    affine_matrix: np.ndarray | None = None  # fixed -> moving point map (LPS mm)
    affine_translation: np.ndarray | None = None
    affine_center: np.ndarray | None = None


def transform_type(spaces: Iterable[str], cfg: dict) -> str:
    """The ANTs transform type that serves the requested spaces."""
    return cfg["syn_transform"] if set(spaces) & set(SYN_SPACES) else cfg["affine_transform"]


def _syn_options(cfg: dict) -> dict:
    """Keyword arguments of ants.registration for the plain SyN type from ``brain.ants``."""
    return {
        "reg_iterations": tuple(cfg["syn_iterations"]),
        "syn_metric": cfg["syn_metric"],
        "syn_sampling": cfg["syn_sampling"],
    }


def register_ants(
    fixed: np.ndarray,
    fixed_labels: np.ndarray | None,
    grid: Grid,
    moving: np.ndarray,
    moving_grid: Grid,
    moving_labels: np.ndarray | None,
    spaces: Iterable[str],
    cfg: dict,
    native: np.ndarray | None = None,
    keep_warp: bool = False,
    metric_mask: np.ndarray | None = None,
    initial_transform: str | None = None,
) -> AntsResult:
    """Register ``moving`` (on its own grid) to ``fixed`` (on ``grid``) with ANTs.

    ``cfg`` is the ``brain.ants`` config section. ``native`` (the moving image resampled onto
    ``grid`` without alignment) gives the before-registration NCC; Dice needs both label
    images. ``keep_warp`` returns the SyN (non-rigid) warp as a displacement in template
    voxels (:func:`displacement_in_voxels`). ``metric_mask`` (on ``grid``, nonzero inside)
    restricts ANTs' similarity metric at every stage and the QC NCCs to a region of the fixed
    image; ``initial_transform`` (an ANTs transform file) is where the optimiser starts (the
    result includes it). Call inside :func:`ants_session` for seeded, single-thread registrations.
    """
    import ants

    spaces = [s for s in spaces if s in ANTS_SPACES]
    f_img = grid.to_ants(fixed)
    m_img = moving_grid.to_ants(moving)
    mask = None if fixed_labels is None else np.asarray(fixed_labels).reshape(grid.array_shape) > 0
    roi = None
    if metric_mask is not None:
        mask = np.asarray(metric_mask).reshape(grid.array_shape) > 0
        roi = grid.to_ants(mask.astype(np.float32))
    ncc_before = None if native is None else ncc(native, fixed, mask)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="regwas-ants-") as tmp:
        args = (f_img, m_img, fixed, fixed_labels, grid, moving_grid, moving_labels, spaces, cfg)
        args = (*args, tmp, mask)
        res = _register_once(*args, initial_transform, keep_warp, roi)
        low = _diverged(res, ncc_before, cfg)
        retried = False
        if low and cfg["retry"]:
            log.info("ANTs: NCC %s after registration; retrying from a multi-start affine", low)
            init = ants.affine_initializer(
                f_img,
                m_img,
                search_factor=RETRY_SEARCH_DEG,
                radian_fraction=RETRY_RADIAN_FRACTION,
                use_principal_axis=False,
                local_search_iterations=10,
                txfn=os.path.join(tmp, "init.mat"),
            )
            res = _register_once(*args, init, keep_warp, roi)
            low, retried = _diverged(res, ncc_before, cfg), True
        seconds = time.perf_counter() - t0
    if low:
        before = "" if ncc_before is None else f" (before registration {ncc_before:.3f})"
        raise RegistrationDiverged(
            f"registration failed: NCC to the template {low}{before}, below "
            f"brain.ants.min_ncc = {cfg['min_ncc']} or below the NCC before registration"
            + (", also after a retry from a multi-start affine initialiser" if retried else "")
        )
    for qc in res.qc.values():
        qc["seconds"] = round(seconds, 4)
        qc["retried"] = int(retried)
        if ncc_before is not None:
            qc["ncc_before"] = ncc_before
    return res


class RegistrationDiverged(RuntimeError):
    """ANTs ended with an image less similar to the template than allowed (see min_ncc)."""


# The retry's rotation search (ants.affine_initializer): steps of 15 degrees over
# +-0.2 * pi (36 degrees), then a local search from the best start.
RETRY_SEARCH_DEG = 15
RETRY_RADIAN_FRACTION = 0.2


def _diverged(res: AntsResult, ncc_before: float | None, cfg: dict) -> str:
    """'' when every space's NCC after is at least min_ncc and the NCC before; else which."""
    floor = float(cfg["min_ncc"])
    if ncc_before is not None:
        floor = max(floor, ncc_before)
    low = [f"{sp} {qc['ncc_after']:.3f}" for sp, qc in res.qc.items() if qc["ncc_after"] < floor]
    return ", ".join(low)


def _register_once(
    f_img,
    m_img,
    fixed: np.ndarray,
    fixed_labels: np.ndarray | None,
    grid: Grid,
    moving_grid: Grid,
    moving_labels: np.ndarray | None,
    spaces: list[str],
    cfg: dict,
    tmp: str,
    mask: np.ndarray | None,
    initial_transform: str | None,
    keep_warp: bool = False,
    roi=None,
) -> AntsResult:
    """One ants.registration call (from ``initial_transform`` when given; the metric inside
    the ANTs image ``roi`` when given) and its outputs."""
    import ants

    kind = transform_type(spaces, cfg)
    res = AntsResult()
    prefix = os.path.join(tmp, "x" if initial_transform is None else "retry")
    reg = ants.registration(
        f_img,
        m_img,
        type_of_transform=kind,
        outprefix=prefix,
        initial_transform=initial_transform,
        **({} if roi is None else {"mask": roi, "mask_all_stages": True}),
        **(_syn_options(cfg) if kind == "SyN" else {}),
    )
    fwd = list(reg["fwdtransforms"])
    # antspy collapses the output transforms (-z 1): the affine includes the initial transform
    mats = [t for t in fwd if t.endswith(".mat")]
    warps = [t for t in fwd if t.endswith("Warp.nii.gz") and "Inverse" not in t]
    if mats:
        tx = ants.read_transform(mats[-1])
        params = np.asarray(tx.parameters, dtype=np.float64)
        d = grid.dims
        res.affine_matrix = params[: d * d].reshape(d, d)
        res.affine_translation = params[d * d :]
        res.affine_center = np.asarray(tx.fixed_parameters, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    lab: dict[str, np.ndarray] = {}
    m_lab = None if moving_labels is None else moving_grid.to_ants(moving_labels)
    if "ants_affine" in spaces:
        if not mats:
            raise RuntimeError(f"ANTs {kind} wrote no affine transform")
        if kind == cfg["affine_transform"]:
            out["ants_affine"] = grid.from_ants(reg["warpedmovout"])
        else:
            img = ants.apply_transforms(f_img, m_img, mats, interpolator="linear")
            out["ants_affine"] = grid.from_ants(img)
        if m_lab is not None:
            lab["ants_affine"] = grid.from_ants(
                ants.apply_transforms(f_img, m_lab, mats, interpolator="nearestNeighbor")
            )
    det = None
    if set(spaces) & set(SYN_SPACES):
        if not warps:
            raise RuntimeError(f"ANTs {kind} wrote no deformable warp")
        out["ants_syn"] = grid.from_ants(reg["warpedmovout"])
        if m_lab is not None:
            lab["ants_syn"] = grid.from_ants(
                ants.apply_transforms(f_img, m_lab, fwd, interpolator="nearestNeighbor")
            )
        det = grid.from_ants(ants.create_jacobian_determinant_image(f_img, warps[0], 0))
        if keep_warp:
            res.displacement = displacement_in_voxels(ants.image_read(warps[0]), grid)
    if not all(np.isfinite(v).all() for v in out.values()):
        raise RuntimeError("ANTs returned non-finite voxels")
    for space in spaces:
        src = "ants_syn" if space == "ants_syn_jac" else space
        qc = {"ncc_after": ncc(out[src], fixed, mask)}
        if src in lab and fixed_labels is not None:
            qc["dice_after"] = mean_dice(lab[src], fixed_labels)
        if src == "ants_syn" and det is not None:
            qc["pct_nonpos_jac"] = pct_nonpositive(det, mask)
        res.qc[space] = qc
        res.rows[space] = safe_log(det) if space == "ants_syn_jac" else out[space]
    res.labels = {k: np.rint(v).astype(np.uint8) for k, v in lab.items()}
    return res


def displacement_in_voxels(field, grid: Grid) -> np.ndarray:
    """An ANTs displacement field (physical LPS mm per voxel of ``grid``) as (D, *S) voxel
    displacements along the array axes: u_ijk = diag(1 / spacing) direction^-1 u_mm, the
    convention of the VoxelMorph fields (out(x) = moving(x + u(x)))."""
    spacing, _, direction = grid.ants_geometry()
    u = np.asarray(field.numpy(), dtype=np.float64)  # (*S, D)
    if u.shape[:-1] != tuple(grid.array_shape) or u.shape[-1] != grid.dims:
        raise ValueError(f"warp of shape {u.shape} is not a field on the grid {grid.array_shape}")
    m = np.diag(1.0 / np.asarray(spacing)) @ np.linalg.inv(np.asarray(direction))
    return np.moveaxis(u @ m.T, -1, 0).astype(np.float32)


def log_jacobian_ants(grid: Grid, warp_path: str) -> np.ndarray:
    """log det J of a displacement-field file (ANTs warp) on ``grid``, folding clipped."""
    import ants

    domain = grid.to_ants(np.zeros(grid.array_shape, np.float32))
    det = grid.from_ants(ants.create_jacobian_determinant_image(domain, warp_path, 0))
    return safe_log(det)

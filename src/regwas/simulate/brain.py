"""Synthetic brain MRI (T1w, T2w, tissue labels) built from nilearn's real MNI152 template.

Each person is the 2 mm MNI152 2009a template (nilearn, offline) deformed by a smooth
displacement field whose regional volume changes come from the person's standardised
biological factors (planted truth), then moved by a random pose (rotation, translation,
isotropic scale = head size), multiplied by a smooth bias field, given Rician noise and a
per-site intensity gain/offset: the nuisance that registration should remove.

Geometry. A person's image is written on the template grid (3D, 99x117x95, the template's
affine) or on one axial slice of it (2D, shape (99, 117, 1), affine = the template's affine
shifted to the slice plane). One pull-back map per person composes, for every output
voxel centre y (world mm): the inverse pose x = c + R^T (y - c - t) / s, then the
deformation x_t = x + v(x), then the template's inverse affine; intensities are sampled with
``scipy.ndimage.map_coordinates`` (order 1 or 3), labels with order 0 (nearest).

Deformation. v is a sum of Gaussian-windowed radial fields, one per factor region:
``v(x) = -k (x - c) exp(-0.5 * sum(((x - c) / sigma)^2))``. A positive k magnifies the
region around c (its volume grows by about (1 - k)^-3 at the centre), a negative k shrinks
it. k = amplitude * clip(factor, +-factor_clip) + age term. The Jacobian determinant of
x -> x + v(x) is computed analytically at every sampled point and must stay positive (no
folding); the per-person minimum is returned as ``min_jacobian``.

Labels (``*_dseg.nii.gz``, uint8): 0 background (outside the brain mask), 1 CSF outside the
lateral ventricles, 2 grey matter, 3 white matter, 4 lateral ventricles. Tissue = argmax of
(CSF, GM, WM) probabilities inside nilearn's brain mask, with CSF = mask - GM - WM; the
lateral ventricles are the connected CSF components that fill a box around the ventricle
bodies (|x| <= 25, -30 <= y <= 20, 15 <= z <= 30 mm MNI).

T2w contrast: a partial-volume mix of the tissue probabilities (CSF bright, GM intermediate,
WM dark, see ``T2_INTENSITY``), warped with the same map as T1w and labels. T1w is nilearn's
template (values in [0, 1]; residues below 1e-6 far outside the head set to 0).

Scanner nuisance, in scanner (output) space and in this order: bias exp(b * quadratic
polynomial), Rician noise sqrt((I + n1)^2 + n2^2), then gain * I + offset drawn per site
name (same site, same effect, for a given seed). Per person the RNG is
``default_rng([seed, row index])``, so output does not depend on ``threads``.

Image-derived phenotypes are measured on the written (native) labels: ``ventricle``,
``csf``, ``gm``, ``wm`` and the regional ``frontal_gm`` / ``temporal_gm`` (GM voxels whose
template position lies within one sigma of the region centres), in ml (3D) or cm2 (2D).
"""

from __future__ import annotations

import functools
import gzip
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.atomic import atomic_path
from regwas.io.mni import Template, load_template
from regwas.simulate.inputs import renderer_inputs
from regwas.simulate.parallel import map_people

log = logging.getLogger(__name__)

#: Biological factors the brain rendering reads (columns of the factors table).
FACTORS: tuple[str, ...] = ("ventricle_volume", "frontal_gm", "temporal_gm")

#: Region of each factor in MNI mm: centres (bilateral regions have two) and Gaussian sigma.
REGIONS: dict[str, dict[str, Any]] = {
    "ventricle_volume": {"centres": [(0.0, -10.0, 14.0)], "sigma": (20.0, 34.0, 16.0)},
    "frontal_gm": {"centres": [(-38.0, 44.0, 16.0), (38.0, 44.0, 16.0)], "sigma": (12.0,) * 3},
    "temporal_gm": {"centres": [(-56.0, -24.0, 12.0), (56.0, -24.0, 12.0)], "sigma": (12.0,) * 3},
}

#: T2-like intensity of pure CSF, GM and WM (partial-volume mixed by the tissue probabilities).
LABELS: dict[int, str] = {0: "background", 1: "csf", 2: "gm", 3: "wm", 4: "ventricles"}

#: Pose centre (x, y) in MNI mm, near the brain mask's centre of mass; z is the slice plane
#: in 2D and POSE_CENTRE_Z_3D in 3D.
POSE_CENTRE_XY: tuple[float, float] = (0.0, -22.0)
POSE_CENTRE_Z_3D: float = 10.0


# --------------------------------------------------------------------------- template


def output_geometry(
    cfg: dict, template_affine: np.ndarray, template_shape: tuple[int, ...]
) -> tuple[tuple[int, int, int], np.ndarray, int | None]:
    """Shape, affine and template z index (None in 3D) of the images a config produces."""
    c = section("simulate.brain", cfg)
    if c["dims"] == 3:
        return tuple(template_shape), template_affine.copy(), None  # type: ignore[return-value]
    dz, z0 = template_affine[2, 2], template_affine[2, 3]
    kf = (float(c["slice_z_mm"]) - z0) / dz
    k = int(round(kf))
    if abs(kf - k) > 1e-6 or not 0 <= k < template_shape[2]:
        zmax = z0 + dz * (template_shape[2] - 1)
        raise InputError(
            f"config simulate.brain.slice_z_mm: {c['slice_z_mm']} is not a template plane "
            f"(multiples of {dz:g} mm from {z0:g} to {zmax:g})"
        )
    affine = template_affine.copy()
    affine[:3, 3] = template_affine[:3, :3] @ np.array([0.0, 0.0, k]) + template_affine[:3, 3]
    return (template_shape[0], template_shape[1], 1), affine, k


# --------------------------------------------------------------------------- geometry


def _fields(ks: dict[str, float]) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(k, centre, sigma) of every Gaussian radial field with non-zero amplitude."""
    out = []
    for name, k in ks.items():
        if k == 0:
            continue
        reg = REGIONS[name]
        for centre in reg["centres"]:
            out.append((float(k), np.asarray(centre, float), np.asarray(reg["sigma"], float)))
    return out


def displacement(points: np.ndarray, ks: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Pull-back displacement v (n, 3) at points (n, 3, MNI mm) and det(I + Dv) (n,).

    ks maps factor name -> amplitude k; v = sum_f -k (x - c) g(x), computed analytically
    with its Jacobian so folding can be checked at every sampled point.
    """
    p = np.ascontiguousarray(points.T)  # (3, n): contiguous components
    v = np.zeros_like(p)
    jac = np.zeros((3, 3, p.shape[1]))  # Dv
    for k, centre, sigma in _fields(ks):
        d = (p - centre[:, None]) / sigma[:, None]  # offsets / sigma
        kg = k * np.exp(-0.5 * (d[0] ** 2 + d[1] ** 2 + d[2] ** 2))
        kgd = kg * (d * sigma[:, None])  # k g (x - c)
        v -= kgd
        # d v_i / d x_j = -k g (delta_ij - d_i d_j / sigma_j^2)
        jac += kgd[:, None, :] * (d / sigma[:, None])[None, :, :]
        for i in range(3):
            jac[i, i] -= kg
    for i in range(3):
        jac[i, i] += 1.0
    det = (
        jac[0, 0] * (jac[1, 1] * jac[2, 2] - jac[1, 2] * jac[2, 1])
        - jac[0, 1] * (jac[1, 0] * jac[2, 2] - jac[1, 2] * jac[2, 0])
        + jac[0, 2] * (jac[1, 0] * jac[2, 1] - jac[1, 1] * jac[2, 0])
    )
    return v.T, det


def rotation_matrix(angles_deg: np.ndarray) -> np.ndarray:
    """Rotation R = Rz @ Ry @ Rx from angles (x, y, z) in degrees."""
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _site_effect(seed: int, site: str, c: dict) -> np.ndarray:
    """Per-site (T1 gain, T1 offset, T2 gain, T2 offset), fixed by seed and site name."""
    rng = np.random.default_rng([seed, 0x5173, zlib.crc32(site.encode())])
    z = rng.standard_normal(4)
    return np.array(
        [
            np.exp(c["site_gain_sd"] * z[0]),
            c["site_offset_sd"] * z[1],
            np.exp(c["site_gain_sd"] * z[2]),
            c["site_offset_sd"] * z[3],
        ]
    )


def _bias_field(rng: np.random.Generator, u: np.ndarray, strength: float) -> np.ndarray:
    """Smooth multiplicative bias exp(strength * quadratic polynomial) at normalised coords u."""
    coef = rng.standard_normal(9)
    x, y, z = u.T
    poly = (
        coef[0] * x
        + coef[1] * y
        + coef[2] * z
        + coef[3] * (x * x - 1 / 3)
        + coef[4] * (y * y - 1 / 3)
        + coef[5] * (z * z - 1 / 3)
        + coef[6] * x * y
        + coef[7] * x * z
        + coef[8] * y * z
    )
    return np.exp(strength / 3.0 * poly).astype(np.float32)


# --------------------------------------------------------------------------- one person


@dataclass(frozen=True)
class _Job:
    index: int
    sample_id: str
    age: float
    male: bool
    site: str
    factors: tuple[float, ...]


_WORKER: dict[str, Any] = {}


def _init_worker(
    template: Template,
    coeffs: tuple[np.ndarray, np.ndarray] | None,
    c: dict,
    seed: int,
    brain_dir: str,
) -> None:
    """Hand the template arrays and settings to a worker process (or to this process)."""
    _WORKER.update(template=template, coeffs=coeffs, c=c, seed=seed, brain_dir=Path(brain_dir))


@functools.lru_cache(maxsize=8)
def _nifti_header(shape: tuple[int, ...], affine_key: tuple[float, ...], dtype: str) -> bytes:
    """NIfTI-1 header + empty extension block (352 bytes) built by nibabel for one geometry."""
    affine = np.asarray(affine_key, dtype=np.float64).reshape(4, 4)
    img = nib.Nifti1Image(np.zeros(shape, dtype=dtype), affine)
    img.set_data_dtype(np.dtype(dtype))
    img.header.set_xyzt_units("mm")
    img.set_sform(affine, code="mni")
    img.set_qform(affine, code="mni")
    img.update_header()
    hdr = img.header
    hdr.set_data_offset(352)  # 348-byte header + 4-byte empty extension flag
    return hdr.binaryblock + b"\x00" * 4


def _save(arr: np.ndarray, affine: np.ndarray, path: Path) -> None:
    """Write a .nii.gz atomically: nibabel-made header (sform/qform = affine, MNI, mm) + data.

    The header is built once per geometry and the gzip stream has mtime 0, so writing is fast
    (thousands of small 2D images) and the bytes depend only on the array and affine.
    """
    header = _nifti_header(arr.shape, tuple(np.asarray(affine, float).ravel()), arr.dtype.str)
    payload = header + np.asarray(arr).tobytes(order="F")
    with atomic_path(path, suffix=".nii.gz") as tmp:
        tmp.write_bytes(gzip.compress(payload, compresslevel=1, mtime=0))


def _render_one(job: _Job) -> dict[str, Any]:
    """Render, write and measure one person; the RNG depends only on (seed, index)."""
    tpl: Template = _WORKER["template"]
    c: dict = _WORKER["c"]
    brain_dir: Path = _WORKER["brain_dir"]
    rng = np.random.default_rng([_WORKER["seed"], job.index])
    shape, out_affine, _ = output_geometry(c, tpl.affine, tpl.t1.shape)
    two_d = c["dims"] == 2

    # pose: same number of draws in 2D and 3D
    angles = rng.uniform(-1, 1, 3) * c["rotation_deg"]
    trans = rng.uniform(-1, 1, 3) * c["translation_mm"]
    log_scale = c["scale_sd"] * rng.standard_normal() + c["scale_sex"] * (0.5 if job.male else -0.5)
    if two_d and not c["out_of_plane"]:
        angles[:2] = 0.0
        trans[2] = 0.0
    scale = float(np.exp(log_scale))
    rot = rotation_matrix(angles)
    centre = np.array([*POSE_CENTRE_XY, out_affine[2, 3] if two_d else POSE_CENTRE_Z_3D])

    # deformation amplitudes from factors and age
    fz = np.clip(np.asarray(job.factors), -c["factor_clip"], c["factor_clip"])
    decades = (job.age - c["age_centre"]) / 10.0
    ks = {name: c["deformation"][name] * z for name, z in zip(FACTORS, fz, strict=True)}
    ks["ventricle_volume"] += c["age_ventricle_per_decade"] * decades
    for name in ("frontal_gm", "temporal_gm"):
        ks[name] -= c["age_gm_per_decade"] * decades

    # single pull-back map: output voxel -> world y -> inverse pose -> deformation -> template,
    # evaluated only where the posed point can reach the template's non-zero box
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    y = (out_affine[:3, :3] @ ijk + out_affine[:3, 3:4]).T
    x_def = centre + ((y - centre - trans) @ rot) / scale  # R^T (y - c - t) / s, row-wise
    reach = 6.0 + sum(abs(k) * max(s_) * 0.61 for k, _, s_ in _fields(ks))  # max |v| + support
    lo, hi = tpl.bbox_mm[0] - reach, tpl.bbox_mm[1] + reach
    sel = np.flatnonzero(np.all((x_def >= lo) & (x_def <= hi), axis=1))
    xs = x_def[sel]
    v, det = displacement(xs, ks)
    min_jac = float(det.min()) if len(det) else 1.0
    if min_jac <= 0:
        raise InputError(
            f"{job.sample_id}: deformation folds (min Jacobian {min_jac:.3f}); lower "
            "config simulate.brain.deformation amplitudes or factor_clip"
        )
    inv = np.linalg.inv(tpl.affine)
    coords = (inv[:3, :3] @ (xs + v).T) + inv[:3, 3:4]

    order = c["interp_order"]
    srcs = _WORKER["coeffs"] if order == 3 else (tpl.t1, tpl.t2)
    n_out = int(np.prod(shape))
    t1, t2 = np.zeros(n_out, np.float32), np.zeros(n_out, np.float32)
    lab = np.zeros(n_out, np.uint8)
    for out, src in ((t1, srcs[0]), (t2, srcs[1])):
        out[sel] = ndi.map_coordinates(
            src, coords, order=order, mode="constant", cval=0.0, prefilter=False, output=np.float32
        )
        if order == 3:  # cubic overshoot: intensities are non-negative
            np.clip(out, 0, None, out=out)
    lab[sel] = ndi.map_coordinates(
        tpl.labels, coords, order=0, mode="constant", cval=0, output=np.uint8
    )

    # scanner: bias field (scanner space), Rician noise, site gain/offset
    bias = _bias_field(rng, (y - centre) / 80.0, c["bias_strength"])
    gains = _site_effect(_WORKER["seed"], job.site, c)
    images = []
    for img, gain, offset in ((t1, gains[0], gains[1]), (t2, gains[2], gains[3])):
        signal = img * bias
        if c["noise_sd"] > 0:
            n1, n2 = rng.standard_normal((2, n_out), dtype=np.float32) * np.float32(c["noise_sd"])
            signal = np.sqrt((signal + n1) ** 2 + n2**2)
        images.append((gain * signal + offset).astype(np.float32).reshape(shape))
    lab = lab.reshape(shape)

    names = {k: f"brain/{job.sample_id}_{k}.nii.gz" for k in ("T1w", "T2w", "dseg")}
    _save(images[0], out_affine, brain_dir.parent / names["T1w"])
    _save(images[1], out_affine, brain_dir.parent / names["T2w"])
    _save(lab, out_affine, brain_dir.parent / names["dseg"])

    row: dict[str, Any] = {
        "sample_id": job.sample_id,
        "path": names["T1w"],
        "t2_path": names["T2w"],
        "label_path": names["dseg"],
    }
    x_t = np.full_like(x_def, np.inf)
    x_t[sel] = xs + v
    row.update(_measure(lab.reshape(-1), x_t, c["dims"], out_affine))
    row.update(
        pose_scale=scale,
        pose_rot_x_deg=angles[0],
        pose_rot_y_deg=angles[1],
        pose_rot_z_deg=angles[2],
        pose_tx_mm=trans[0],
        pose_ty_mm=trans[1],
        pose_tz_mm=trans[2],
        site_gain=gains[0],
        site_offset=gains[1],
        min_jacobian=min_jac,
    )
    return row


def _measure(lab: np.ndarray, x_t: np.ndarray, dims: int, affine: np.ndarray) -> dict:
    """Image-derived phenotypes from the native labels: tissue volumes (3D, ml) or areas (2D, cm2).

    Regional GM counts GM voxels whose template position x_t lies within one sigma of a
    region centre: an atlas-propagated regional volume with a perfect registration.
    """
    voxel = float(np.prod(np.abs(np.diag(affine)[:dims])))
    unit, div = ("ml", 1000.0) if dims == 3 else ("cm2", 100.0)
    counts = np.bincount(lab, minlength=5)
    out = {
        f"{name}_{unit}": counts[lab_id] * voxel / div
        for lab_id, name in ((4, "ventricle"), (1, "csf"), (2, "gm"), (3, "wm"))
    }
    gm_pos = x_t[lab == 2]
    for name in ("frontal_gm", "temporal_gm"):
        reg = REGIONS[name]
        inside = np.zeros(len(gm_pos), bool)
        for centre in reg["centres"]:
            inside |= np.sum(((gm_pos - centre) / np.asarray(reg["sigma"])) ** 2, axis=1) <= 1
        out[f"{name}_{unit}"] = np.count_nonzero(inside) * voxel / div
    return out


# --------------------------------------------------------------------------- public entry


def _jobs(people: pd.DataFrame, factors: pd.DataFrame) -> list[_Job]:
    """Validate the inputs and build one job per person, in the order of ``people``."""
    ids, fvals = renderer_inputs(
        people, factors, FACTORS, "brain", ("sample_id", "age", "sex", "site")
    )
    jobs = []
    for i, (sid, age, sex, site) in enumerate(
        zip(ids, people["age"], people["sex"], people["site"], strict=True)
    ):
        if not isinstance(age, int | float | np.number) or not np.isfinite(age):
            raise InputError(f"people table row {i} ({sid}), column age: not a number ({age!r})")
        if sex not in ("F", "M"):
            raise InputError(f"people table row {i} ({sid}), column sex: must be F or M ({sex!r})")
        if not isinstance(site, str) or not site:
            raise InputError(f"people table row {i} ({sid}), column site: must be text ({site!r})")
        jobs.append(_Job(i, sid, float(age), sex == "M", site, tuple(fvals[i])))
    return jobs


def write_template(template: Template, cfg: dict, out_dir: Path) -> dict[str, str]:
    """Write the unperturbed template (T1w, T2w, dseg) in the subjects' geometry."""
    c = section("simulate.brain", cfg)
    shape, affine, k = output_geometry(c, template.affine, template.t1.shape)
    sl = slice(None) if k is None else slice(k, k + 1)
    paths = {}
    for kind, arr in (("T1w", template.t1), ("T2w", template.t2), ("dseg", template.labels)):
        rel = f"brain/template_{kind}.nii.gz"
        _save(np.ascontiguousarray(arr[:, :, sl]).reshape(shape), affine, Path(out_dir) / rel)
        paths[kind] = rel
    return paths


def render_brain(
    people: pd.DataFrame,
    factors: pd.DataFrame,
    cfg: dict,
    seed: int,
    out_dir: Path,
    threads: int = 1,
) -> pd.DataFrame:
    """Render T1w, T2w and tissue labels per person from the MNI152 template and the factors.

    Writes out_dir/brain/{sample_id}_{T1w,T2w,dseg}.nii.gz and brain/template_*.nii.gz and
    returns one row per person (order of ``people``): sample_id, path (T1w), t2_path,
    label_path (relative to out_dir), image-derived phenotypes from the native labels
    (``*_ml`` in 3D, ``*_cm2`` in 2D), the drawn pose and site effect, and min_jacobian.
    Output depends on (people, factors, cfg, seed) only, not on ``threads``.
    """
    c = section("simulate.brain", cfg)
    if not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads: must be a positive integer, got {threads!r}")
    jobs = _jobs(people, factors)
    out_dir = Path(out_dir)
    brain_dir = out_dir / "brain"
    brain_dir.mkdir(parents=True, exist_ok=True)
    template = load_template()
    write_template(template, c, out_dir)
    coeffs = None
    if c["interp_order"] == 3:
        coeffs = (
            ndi.spline_filter(template.t1, order=3, output=np.float32, mode="constant"),
            ndi.spline_filter(template.t2, order=3, output=np.float32, mode="constant"),
        )
    init = (template, coeffs, c, int(seed), str(brain_dir))
    log.info(
        "rendering %d brains (%dD) with %d process(es) into %s",
        len(jobs),
        c["dims"],
        threads,
        brain_dir,
    )
    rows = map_people(_render_one, jobs, threads, "brain", _init_worker, init)
    return pd.DataFrame(rows)

"""Synthetic cardiac cine MRI: a 2D+t short-axis cine of a parametric heart with planted factors.

Anatomy (in the heart's own frame, mm): a circular LV cavity (blood pool) inside an annular LV
myocardium, an RV cavity (an ellipse to the left of the LV with the LV epicardium cut out: a
crescent), inside a chest whose elliptical body outline has a subcutaneous fat ring that
thickens with BMI, in air. Motion over one cardiac cycle: the LV cavity area is
``A(phi) = A_ed * (1 - EF * c(phi))`` with the contraction ``c`` rising from 0 at
end-diastole (phi = 0) to 1 at end-systole (phi = s, the systolic fraction of the RR
interval: a half cosine), then rapid filling and an atrial kick back to 0; the myocardial area
is conserved, so the wall thickens as the cavity shrinks; the RV cavity follows with half the
area change.

Planted factors (standardised, from causal variants, age, sex, BMI and ancestry like every
modality; ``FACTORS``): ``lv_edv`` sets the end-diastolic cavity radius, ``ejection_fraction``
the area ejection fraction, ``wall_thickness`` the end-diastolic wall, ``systolic_duration``
the heart-rate-corrected duration of systole (actual = corrected x (RR / 1 s)^(1/3), as
Fridericia for QT). ``simulate.cardiac.shared_factors`` makes some of them share signal with
ECG factors (systolic duration with QT, wall thickness with QRS width): see
``regwas.simulate.cohort``.

Nuisance that registration should remove: the heart rate (the frames always span one RR
interval, so the frame interval and the share of frames in systole change: time runs at a
different pace), the cycle phase of the first frame, an in-plane rotation, translation and
isotropic scale of the whole image content, an intensity gain and Rician noise.

Files: ``cardiac/{sample_id}_cine.nii.gz`` (float32) and ``cardiac/{sample_id}_dseg.nii.gz``
(uint8 labels per frame: 0 background, 1 surrounding tissue, 2 LV blood pool,
3 LV myocardium, 4 RV blood pool). Both are NIfTI-1 of shape (x, y, 1, t): the time axis is
NIfTI's fourth (time) axis, so ``pixdim[4]`` carries the frame interval (ms, ``xyzt_units``
mm + msec) and the affine is the in-plane pixel size and slice thickness with the image
centre at world (0, 0, 0) mm (sform/qform code scanner). The true cycle phase of every frame
is in ``truth/cardiac_phase.tsv``.

Image-derived phenotypes (measured on the written labels): LV end-diastolic and end-systolic
cavity areas (largest and smallest over the frames), their area ejection fraction, the mean
myocardial area and the measured systolic duration (frames from the largest to the smallest
cavity x frame interval). Per person the RNG is ``default_rng([seed, row index])``.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.atomic import atomic_path
from regwas.io.tables import write_tsv
from regwas.simulate.inputs import renderer_inputs
from regwas.simulate.parallel import map_people, person_jobs

log = logging.getLogger(__name__)

#: Biological factors the cardiac rendering reads (columns of the factors table).
FACTORS: tuple[str, ...] = ("lv_edv", "ejection_fraction", "wall_thickness", "systolic_duration")

LABELS: dict[int, str] = {
    0: "background",
    1: "tissue",
    2: "lv_blood",
    3: "lv_myocardium",
    4: "rv_blood",
}

#: Intensities (bSSFP-like, blood pool = 1) of fat, other tissue and myocardium.
INTENSITY = {"fat": 0.75, "tissue": 0.3, "myocardium": 0.18, "blood": 1.0}

#: LV centre in the heart frame (mm from the image centre before pose).
LV_CENTRE = np.array([12.0, 0.0])


def contraction(phi: np.ndarray, s: float) -> np.ndarray:
    """Contraction c in [0, 1] at cycle phase phi in [0, 1) (0 = end-diastole) for a
    systolic fraction s: half cosine up to end-systole, then rapid filling (to 80 % in the
    first 40 % of diastole) and an atrial kick in its last quarter."""
    phi = np.mod(np.asarray(phi, float), 1.0)
    sys = 0.5 * (1.0 - np.cos(np.pi * np.clip(phi / s, 0.0, 1.0)))
    x = np.clip((phi - s) / (1.0 - s), 0.0, 1.0)

    def smooth(u: np.ndarray) -> np.ndarray:
        u = np.clip(u, 0.0, 1.0)
        return u * u * (3.0 - 2.0 * u)

    dia = 1.0 - (0.8 * smooth(x / 0.4) + 0.2 * smooth((x - 0.75) / 0.25))
    return np.where(phi < s, sys, dia)


def geometry(cfg: dict) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Shape (x, y, 1, t) and affine of the cines a config produces."""
    c = section("simulate.cardiac", cfg)
    n, p = int(c["matrix"]), float(c["pixel_mm"])
    affine = np.diag([p, p, float(c["slice_mm"]), 1.0])
    affine[:2, 3] = -(n - 1) / 2.0 * p
    return (n, n, 1, int(c["frames"])), affine


def save_nifti(arr: np.ndarray, affine: np.ndarray, frame_ms: float, path: Path) -> None:
    """Write (x, y, 1, t) as .nii.gz atomically: sform/qform = affine (scanner), units mm and
    msec, pixdim[4] = frame interval; gzip mtime 0 so bytes depend only on the content."""
    img = nib.Nifti1Image(np.asarray(arr), affine)
    img.set_data_dtype(arr.dtype)
    img.header.set_xyzt_units("mm", "msec")
    img.set_sform(affine, code="scanner")
    img.set_qform(affine, code="scanner")
    zooms = list(img.header.get_zooms())
    zooms[3] = float(frame_ms)
    img.header.set_zooms(zooms)
    with atomic_path(path, suffix=".nii.gz") as tmp:
        tmp.write_bytes(gzip.compress(img.to_bytes(), compresslevel=1, mtime=0))


def _soft(d_mm: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Partial-volume fraction of a pixel at signed distance d (mm, negative inside)."""
    return np.clip(0.5 - d_mm / pixel_mm, 0.0, 1.0)


def _ellipse_distance(u: np.ndarray, v: np.ndarray, a: float, b: float) -> np.ndarray:
    """Approximate signed distance (mm) to an axis-aligned ellipse with semi-axes a, b."""
    return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * min(a, b)


def body_outline(bmi: float, half_fov: float) -> tuple[float, float, float]:
    """The body around the heart for a BMI: ellipse semi-axes (mm, within the field of view of
    half-width ``half_fov``) and fat-layer thickness (mm). It does not move with the heart."""
    bmi_k = float(np.clip(bmi / 26.5, 0.6, 1.6))
    return (
        min(0.9 * half_fov * bmi_k**0.3, 0.97 * half_fov),
        min(0.7 * half_fov * bmi_k**0.3, 0.85 * half_fov),
        5.0 * bmi_k**1.5,
    )


def heart_parameters(factors: np.ndarray, rr_ms: float, c: dict) -> dict[str, float]:
    """Physical heart of one person from its (clipped) factors and RR interval."""
    f = np.clip(factors, -c["factor_clip"], c["factor_clip"])
    r_ed = max(c["lv_radius_mm"][0] + c["lv_radius_mm"][1] * f[0], 8.0)
    ef = float(np.clip(c["ejection_fraction"][0] + c["ejection_fraction"][1] * f[1], 0.15, 0.8))
    wall = max(c["wall_mm"][0] + c["wall_mm"][1] * f[2], 3.0)
    sys_c = max(c["systole_ms"][0] + c["systole_ms"][1] * f[3], 150.0)
    sys_ms = sys_c * (rr_ms / 1000.0) ** (1.0 / 3.0)
    return {
        "r_ed": r_ed,
        "ef": ef,
        "wall": wall,
        "systole_ms": sys_ms,
        "s": float(np.clip(sys_ms / rr_ms, 0.15, 0.7)),
    }


def draw_frames(
    heart: dict[str, float],
    phases: np.ndarray,
    pose: dict[str, float],
    body: tuple[float, float, float],
    shape: tuple[int, int, int, int],
    affine: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free intensities (x, y, 1, t) float32 and labels uint8 at the given phases."""
    n = shape[0]
    p = float(affine[0, 0])
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x = affine[0, 0] * ii + affine[0, 3]
    y = affine[1, 1] * jj + affine[1, 3]
    # inverse pose: heart frame = R^T (world - t) / s
    th = np.deg2rad(pose["rot_deg"])
    cs, sn = np.cos(th), np.sin(th)
    dx, dy = x - pose["tx_mm"], y - pose["ty_mm"]
    u = (cs * dx + sn * dy) / pose["scale"]
    v = (-sn * dx + cs * dy) / pose["scale"]
    ps = p / pose["scale"]  # pixel size in heart-frame mm

    a_body, b_body, fat = body
    d_body = _ellipse_distance(u, v, a_body, b_body)
    m_body = _soft(d_body, ps)
    m_inner = _soft(_ellipse_distance(u, v, a_body - fat, b_body - fat), ps)
    base = m_body * ((1 - m_inner) * INTENSITY["fat"] + m_inner * INTENSITY["tissue"])
    base_lab = np.where(m_body > 0.5, 1, 0).astype(np.uint8)

    r_ed, wall, ef = heart["r_ed"], heart["wall"], heart["ef"]
    myo_area = (r_ed + wall) ** 2 - r_ed**2  # / pi
    r_epi_ed = r_ed + wall
    rv_centre = LV_CENTRE + np.array([-0.9 * r_epi_ed, 0.0])
    lu, lv = u - LV_CENTRE[0], v - LV_CENTRE[1]
    d_lv = np.sqrt(lu**2 + lv**2)
    ru, rv = u - rv_centre[0], v - rv_centre[1]
    c = contraction(phases, heart["s"])
    img = np.empty((n, n, 1, len(phases)), np.float32)
    lab = np.empty((n, n, 1, len(phases)), np.uint8)
    for t, ct in enumerate(c):
        r = r_ed * np.sqrt(1.0 - ef * ct)
        r_epi = np.sqrt(r**2 + myo_area)
        k_rv = np.sqrt(1.0 - 0.5 * ef * ct)
        m_rv = _soft(_ellipse_distance(ru, rv, 0.75 * r_epi_ed * k_rv, 1.2 * r_epi_ed * k_rv), ps)
        m_epi = _soft(d_lv - r_epi, ps)
        m_endo = _soft(d_lv - r, ps)
        frame = base * (1 - m_rv) + INTENSITY["blood"] * m_rv
        frame = frame * (1 - m_epi) + INTENSITY["myocardium"] * m_epi
        frame = frame * (1 - m_endo) + INTENSITY["blood"] * m_endo
        labels = base_lab.copy()
        labels[m_rv > 0.5] = 4
        labels[m_epi > 0.5] = 3
        labels[m_endo > 0.5] = 2
        img[:, :, 0, t] = frame
        lab[:, :, 0, t] = labels
    return img, lab


def _measure(lab: np.ndarray, frame_ms: float, pixel_mm: float) -> dict[str, float]:
    """Phenotypes from the written labels (areas in cm2, durations in ms)."""
    px_cm2 = pixel_mm**2 / 100.0
    lv = (lab == 2).reshape(-1, lab.shape[-1]).sum(axis=0) * px_cm2
    myo = (lab == 3).reshape(-1, lab.shape[-1]).sum(axis=0) * px_cm2
    t_ed, t_es = int(np.argmax(lv)), int(np.argmin(lv))
    frames = lab.shape[-1]
    return {
        "lv_eda_cm2": float(lv[t_ed]),
        "lv_esa_cm2": float(lv[t_es]),
        "lv_area_ef": float(1.0 - lv[t_es] / lv[t_ed]) if lv[t_ed] > 0 else float("nan"),
        "lv_myo_area_cm2": float(myo.mean()),
        "systole_measured_ms": float(((t_es - t_ed) % frames) * frame_ms),
    }


def _validate(people: pd.DataFrame, factors: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    return renderer_inputs(people, factors, FACTORS, "cardiac", ("sample_id", "sex", "bmi"))


def _render_person(job) -> tuple[dict[str, Any], pd.DataFrame]:
    """One person's cine and labels written under out_dir; their table row and true phases.
    Everything random comes from ``default_rng([seed, i])``."""
    i, sid, male, bmi, fv, c, seed, out_dir = job
    lo, hi = c["heart_rate_bpm"]
    shape, affine = geometry(c)
    frames = shape[3]
    half_fov = (shape[0] - 1) / 2.0 * c["pixel_mm"]
    rng = np.random.default_rng([int(seed), i])
    hr = float(rng.uniform(lo, hi))
    rr_ms = 60000.0 / hr
    frame_ms = rr_ms / frames
    start = float(rng.uniform(0.0, c["start_phase"])) if c["start_phase"] > 0 else 0.0
    pose = {
        "rot_deg": float(rng.uniform(-1, 1) * c["rotation_deg"]),
        "tx_mm": float(rng.uniform(-1, 1) * c["translation_mm"]),
        "ty_mm": float(rng.uniform(-1, 1) * c["translation_mm"]),
        "scale": float(
            np.exp(c["scale_sd"] * rng.standard_normal() + c["scale_sex"] * (0.5 if male else -0.5))
        ),
    }
    gain = float(np.exp(c["gain_sd"] * rng.standard_normal()))
    body = body_outline(bmi, half_fov)
    heart = heart_parameters(fv, rr_ms, c)
    phases = np.mod(start + np.arange(frames) / frames, 1.0)
    img, lab = draw_frames(heart, phases, pose, body, shape, affine)
    signal = img * gain
    if c["noise_sd"] > 0:
        n1, n2 = rng.standard_normal((2, *img.shape)) * c["noise_sd"] * gain
        signal = np.sqrt((signal + n1) ** 2 + n2**2)
    rel = {k: f"cardiac/{sid}_{k}.nii.gz" for k in ("cine", "dseg")}
    save_nifti(signal.astype(np.float32), affine, frame_ms, out_dir / rel["cine"])
    save_nifti(lab, affine, frame_ms, out_dir / rel["dseg"])
    row = {"sample_id": sid, "path": rel["cine"], "label_path": rel["dseg"]}
    row.update(_measure(lab, frame_ms, float(c["pixel_mm"])))
    row.update(
        cine_heart_rate_bpm=hr,
        cine_frame_ms=frame_ms,
        cine_start_phase=start,
        cine_systolic_fraction=heart["s"],
        cine_rot_deg=pose["rot_deg"],
        cine_tx_mm=pose["tx_mm"],
        cine_ty_mm=pose["ty_mm"],
        cine_scale=pose["scale"],
        cine_gain=gain,
    )
    phase = pd.DataFrame(
        {
            "sample_id": sid,
            "frame": np.arange(frames),
            "phase": phases,
            "contraction": contraction(phases, heart["s"]),
            "time_ms": np.arange(frames) * frame_ms,
        }
    )
    return row, phase


def render_cardiac(
    people: pd.DataFrame,
    factors: pd.DataFrame,
    cfg: dict | None,
    seed: int,
    out_dir: Path,
    threads: int = 1,
) -> pd.DataFrame:
    """Render one cine + labels per person; write truth/cardiac_phase.tsv.

    Returns one row per person (order of ``people``): sample_id, path (cine), label_path
    (relative to out_dir), measured phenotypes and the drawn nuisance (``cine_*``). People are
    rendered in ``threads`` processes (:func:`regwas.simulate.parallel.map_people`); the output
    does not depend on ``threads``.
    """
    c = section("simulate.cardiac", cfg)
    if not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads: must be a positive integer, got {threads!r}")
    lo, hi = c["heart_rate_bpm"]
    if not lo <= hi:
        raise InputError("simulate.cardiac.heart_rate_bpm: [low, high] with low <= high")
    ids, fvals = _validate(people, factors)
    out_dir = Path(out_dir)
    jobs = person_jobs(ids, people, fvals, c, seed, out_dir)
    done = map_people(_render_person, jobs, threads, "cardiac")
    rows = [row for row, _ in done]
    phase_rows = [phase for _, phase in done]
    write_tsv(
        pd.concat(phase_rows, ignore_index=True),
        out_dir / "truth" / "cardiac_phase.tsv",
        float_format="%.6g",
    )
    return pd.DataFrame(rows)

"""Synthetic whole-body DXA: a 2D projection of a parametric skeleton and soft tissue.

Body model (body frame, mm; origin at the pelvis centre, y towards the head): every part is a
capsule (a segment with a radius). The projected attenuation of a cylinder at distance d from
its axis is its chord 2 sqrt(r^2 - d^2), so edges fade like a real projection. Soft tissue
(head, neck, torso, arms, legs; radii grow with BMI) is the union of its capsules (largest
chord); bone (skull, spine, clavicles, iliac wings, femora, tibiae, humeri, forearms) adds
``bone_attenuation x BMD`` per mm of chord on top.

Planted factors (``FACTORS``, standardised, from causal variants, age, sex, BMI and ancestry):
``height`` scales every length (stature ~ 1700 mm + ``stature_mm[1]`` per SD),
``bmd`` scales the bone attenuation, ``hip_width`` the pelvis width and the distance of the
hip joints. Nuisance that rigid registration removes: rotation, translation and scale of the
whole body (table position, magnification); nuisance it does not remove: arm and leg
abduction (limb pose), noise.

File: ``dxa/{sample_id}_dxa.nii.gz`` (float32 attenuation) and ``dxa/{sample_id}_dseg.nii.gz``
(uint8 labels: 0 background, 1 soft tissue, 2 skull, 3 spine, 4 pelvis, 5 femur, 6 other limb
bones and clavicles), NIfTI of shape (x, y, 1). NIfTI, not PNG: the affine carries the pixel
size in mm (PNG has none), the attenuation stays float without 8/16-bit quantisation, and the
same reader and ANTs code serve DXA and brain. A projection has no depth: the affine is a plain
pixel grid (x = the subject's left-right, y = foot to head, mm, image centre at 0; the third
axis is a unit placeholder), not a scanner orientation. Per person the RNG is
``default_rng([seed, row index])``.
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
from regwas.simulate.inputs import renderer_inputs
from regwas.simulate.parallel import map_people, person_jobs

log = logging.getLogger(__name__)

FACTORS: tuple[str, ...] = ("height", "bmd", "hip_width")

LABELS: dict[int, str] = {
    0: "background",
    1: "soft_tissue",
    2: "skull",
    3: "spine",
    4: "pelvis",
    5: "femur",
    6: "other_bone",
}


def geometry(cfg: dict) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape (x, y, 1) and affine of the DXA images of a config."""
    c = section("simulate.dxa", cfg)
    nx, ny = (int(v) for v in c["matrix"])
    p = float(c["pixel_mm"])
    affine = np.diag([p, p, 1.0, 1.0])
    affine[0, 3] = -(nx - 1) / 2.0 * p
    affine[1, 3] = -(ny - 1) / 2.0 * p
    return (nx, ny, 1), affine


def save_nifti(arr: np.ndarray, affine: np.ndarray, path: Path) -> None:
    """Write (x, y, 1) as .nii.gz atomically (sform/qform = affine, mm, gzip mtime 0)."""
    img = nib.Nifti1Image(np.asarray(arr), affine)
    img.set_data_dtype(arr.dtype)
    img.header.set_xyzt_units("mm")
    img.set_sform(affine, code="aligned")
    img.set_qform(affine, code="aligned")
    with atomic_path(path, suffix=".nii.gz") as tmp:
        tmp.write_bytes(gzip.compress(img.to_bytes(), compresslevel=1, mtime=0))


def _rot(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def body_parts(
    k: float, hip: float, bmi_k: float, arm_deg: float, leg_deg: float
) -> tuple[list[tuple], list[tuple]]:
    """(soft capsules, bone capsules): (p0, p1, radius[, label]) in body-frame mm.

    k: length scale (stature / 1700 mm); hip: half distance of the hip joints (mm);
    bmi_k: soft-tissue radius scale; arm_deg / leg_deg: abduction of arms and legs."""
    soft: list[tuple] = []
    bone: list[tuple] = []
    s = bmi_k
    soft += [((0, 700 * k), (0, 760 * k), 85 * k), ((0, 560 * k), (0, 660 * k), 55 * k)]
    soft += [((0, -40 * k), (0, 520 * k), 150 * k * s)]
    bone += [((0, 690 * k), (0, 750 * k), 72 * k, 2), ((0, 40 * k), (0, 640 * k), 16 * k, 3)]
    for side in (-1.0, 1.0):
        sh = np.array([side * 175 * k, 560 * k])
        arm = _rot(side * arm_deg) @ np.array([0.0, -1.0])
        elbow = sh + 300 * k * arm
        wrist = elbow + 260 * k * arm
        soft += [(sh, elbow, 45 * k * s), (elbow, wrist, 35 * k * s)]
        bone += [(sh, elbow, 11 * k, 6), (elbow, wrist, 9 * k, 6)]
        bone += [((side * 20 * k, 590 * k), (side * 165 * k, 600 * k), 7 * k, 6)]
        hj = np.array([side * hip, -30 * k])
        bone += [((side * 0.35 * hip, 40 * k), (side * 1.15 * hip, 110 * k), 28 * k, 4)]
        bone += [((side * 0.3 * hip, -20 * k), (side * 0.9 * hip, -30 * k), 14 * k, 4)]
        leg = _rot(side * leg_deg) @ np.array([0.0, -1.0])
        knee = hj + 440 * k * leg
        ankle = knee + 400 * k * leg
        soft += [(hj, knee, 80 * k * s), (knee, ankle, 52 * k * s)]
        bone += [(hj, knee, 14 * k, 5), (knee, ankle, 12 * k, 6)]
    return soft, bone


def _chord(pts: np.ndarray, p0, p1, r: float) -> np.ndarray:
    """Projected chord length 2 sqrt(r^2 - d^2) of a capsule at points (n, 2)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    t = np.clip(((pts - p0) @ d) / max(d @ d, 1e-12), 0.0, 1.0)
    dist2 = np.sum((pts - (p0 + t[:, None] * d)) ** 2, axis=1)
    return 2.0 * np.sqrt(np.clip(r * r - dist2, 0.0, None))


def draw(
    params: dict[str, float],
    pose: dict[str, float],
    shape: tuple[int, int, int],
    affine: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free attenuation (x, y, 1) float32 and labels uint8 of one body."""
    nx, ny = shape[:2]
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    world = np.stack([affine[0, 0] * ii + affine[0, 3], affine[1, 1] * jj + affine[1, 3]], -1)
    world = world.reshape(-1, 2)
    # inverse pose: body = R^T (world - t) / s, with the body frame's origin at the pelvis
    rot = _rot(pose["rot_deg"])
    pts = ((world - np.array([pose["tx_mm"], pose["ty_mm"]])) @ rot) / pose["scale"]
    pts[:, 1] += params["centre_y"]
    soft_parts, bone_parts = body_parts(
        params["k"], params["hip"], params["bmi_k"], params["arm_deg"], params["leg_deg"]
    )
    soft = np.zeros(len(pts))
    for p0, p1, r in soft_parts:
        soft = np.maximum(soft, _chord(pts, p0, p1, r))
    bone = np.zeros(len(pts))
    lab = np.where(soft > 0, 1, 0).astype(np.uint8)
    for p0, p1, r, label in bone_parts:
        ch = _chord(pts, p0, p1, r)
        bone = np.maximum(bone, ch)
        lab[ch > r] = label  # inner part of the capsule (distance < r sqrt(3)/2)
    scale = pose["scale"]
    att = (params["soft_mu"] * soft + params["bone_mu"] * bone) * scale / 100.0
    return att.reshape(shape).astype(np.float32), lab.reshape(shape)


def _measure(lab: np.ndarray, img: np.ndarray, pixel_mm: float) -> dict[str, float]:
    """Phenotypes from the written labels (in image mm, magnification included)."""
    lab2, img2 = lab[:, :, 0], img[:, :, 0]
    body_rows = np.flatnonzero((lab2 > 0).any(axis=0))
    pelvis_cols = np.flatnonzero((lab2 == 4).any(axis=1))
    return {
        "dxa_height_mm": float((body_rows[-1] - body_rows[0] + 1) * pixel_mm)
        if len(body_rows)
        else float("nan"),
        "dxa_pelvis_width_mm": float((pelvis_cols[-1] - pelvis_cols[0] + 1) * pixel_mm)
        if len(pelvis_cols)
        else float("nan"),
        "dxa_spine_bone": _spine_bone(lab2, img2),
    }


def _spine_bone(lab2: np.ndarray, img2: np.ndarray) -> float:
    """Mean spine attenuation minus the soft tissue beside it (same rows): a BMD proxy."""
    rows = np.flatnonzero((lab2 == 3).any(axis=0))
    if not len(rows):
        return float("nan")
    sub, val = lab2[:, rows], img2[:, rows]
    soft = val[sub == 1]
    return float(val[sub == 3].mean() - (np.median(soft) if soft.size else 0.0))


def _render_person(job) -> dict[str, Any]:
    """One person's DXA image and labels written under out_dir; their table row. Everything
    random comes from ``default_rng([seed, i])``."""
    i, sid, male, bmi, fv, c, seed, out_dir = job
    shape, affine = geometry(c)
    rng = np.random.default_rng([int(seed), i])
    stature = c["stature_mm"][0] + c["stature_mm"][1] * fv[0] + (60.0 if male else -60.0)
    k = stature / 1700.0
    params = {
        "k": k,
        "hip": k * c["hip_mm"][0] * (1 + c["hip_mm"][1] / c["hip_mm"][0] * fv[2]),
        "bmi_k": float(np.clip(bmi / 26.5, 0.6, 1.8)) ** 0.8,
        "bone_mu": c["bone_attenuation"] * (1 + c["bmd_per_sd"] * fv[1]),
        "soft_mu": c["soft_attenuation"],
        "arm_deg": float(rng.uniform(*c["arm_abduction_deg"])),
        "leg_deg": float(rng.uniform(*c["leg_abduction_deg"])),
        "centre_y": -17.5 * k,  # the body's vertical middle (head top to heel) at the centre
    }
    pose = {
        "rot_deg": float(rng.uniform(-1, 1) * c["rotation_deg"]),
        "tx_mm": float(rng.uniform(-1, 1) * c["translation_mm"]),
        "ty_mm": float(rng.uniform(-1, 1) * c["translation_mm"]),
        "scale": float(np.exp(c["scale_sd"] * rng.standard_normal())),
    }
    img, lab = draw(params, pose, shape, affine)
    if c["noise_sd"] > 0:
        img = img + (rng.standard_normal(img.shape) * c["noise_sd"]).astype(np.float32)
    rel = {kind: f"dxa/{sid}_{kind}.nii.gz" for kind in ("dxa", "dseg")}
    save_nifti(img.astype(np.float32), affine, out_dir / rel["dxa"])
    save_nifti(lab, affine, out_dir / rel["dseg"])
    row = {"sample_id": sid, "path": rel["dxa"], "label_path": rel["dseg"]}
    row.update(_measure(lab, img, float(c["pixel_mm"])))
    row.update(
        dxa_arm_deg=params["arm_deg"],
        dxa_leg_deg=params["leg_deg"],
        dxa_rot_deg=pose["rot_deg"],
        dxa_tx_mm=pose["tx_mm"],
        dxa_ty_mm=pose["ty_mm"],
        dxa_scale=pose["scale"],
    )
    return row


def render_dxa(
    people: pd.DataFrame,
    factors: pd.DataFrame,
    cfg: dict | None,
    seed: int,
    out_dir: Path,
    threads: int = 1,
) -> pd.DataFrame:
    """Render one whole-body DXA image + labels per person, in ``threads`` processes (the
    output does not depend on ``threads``). Returns sample_id, path, label_path (relative to out_dir),
    measured phenotypes and the drawn nuisance (``dxa_*``)."""
    c = section("simulate.dxa", cfg)
    if not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads: must be a positive integer, got {threads!r}")
    ids, fv = renderer_inputs(people, factors, FACTORS, "dxa", ("sample_id", "sex", "bmi"))
    fv = np.clip(fv, -c["factor_clip"], c["factor_clip"])
    out_dir = Path(out_dir)
    jobs = person_jobs(ids, people, fv, c, seed, out_dir)
    return pd.DataFrame(map_people(_render_person, jobs, threads, "dxa"))

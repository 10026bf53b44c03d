"""Rigid (or affine) registration of 2D projections (DXA) to an exemplar with ANTs.

A thin layer over :func:`regwas.register.image.classical.register_ants` with a rigid ANTs
transform (rotation + translation; ``Similarity`` or ``Affine`` may be asked for): the
``dxa`` space ``rigid`` is the image resampled onto the exemplar's grid, QC as for the brain
(NCC before/after, Dice of the warped labels, seconds). The recovered transform is reported
as an angle (degrees) and a translation (mm) of the fixed -> moving point map in the images'
own (RAS) world coordinates, so it can be checked against the simulator's pose.

Transform type: plain ``Rigid`` (antspy's single-level default) fell into a local minimum on
one of three simulated DXA pairs (-9 deg, (-25, 55) mm: recovered -7.8 deg, Dice 0.13);
``antsRegistrationSyNQuickRepro[r]`` (multi-resolution, deterministic by construction)
recovered all three within 0.03 deg and 0.5 mm in 0.1-0.2 s per pair (measured), so it is the
default.

Divergence: the multi-resolution rigid search samples its metric points at random, so its
result depends on the ANTs seed, and for some seeds it ends in a wrong optimum. On the demo's
1,194 cines (mean frame to the exemplar's), 45 alignments with the run's seed lowered the NCC
with the exemplar, 37 by more than the 0.01 tolerance (from 0.63 to 0.46 on average, shifts
of 36 mm and angles to 130 degrees, where the simulator translates by at most 8 mm per axis);
with another seed 5 did, different people, and retried, all 37 aligned at the second seed.
:func:`register_until_better` therefore accepts a rigid registration only when its NCC with
the exemplar is at least the NCC before (and, when the caller gives ``min_ncc``, at least
that), retries from further seeds derived from the run's (``retries``), each attempt from the
next of the caller's start rotations, keeps the best attempt that did not lower the NCC, and
otherwise raises :class:`RigidDiverged` (the caller leaves the person out, reason in qc.tsv).
The cine uses a heart ROI, ``min_ncc`` and rotated starts (regwas.register.cine.stores). The
brain's affine retry (a multi-start affine initialiser) does not apply: this registration is
rigid; its rotated starts are rigid ones.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from regwas.register.image.classical import register_ants
from regwas.register.image.nifti import Grid

#: ANTs transform types allowed for the dxa rigid space.
RIGID_TYPES = (
    "antsRegistrationSyNQuickRepro[r]",
    "antsRegistrationSyNQuick[r]",
    "Rigid",
    "Similarity",
    "Affine",
)

_LPS2 = np.diag([-1.0, -1.0])

T = TypeVar("T")


class RigidDiverged(RuntimeError):
    """Every attempt of a rigid registration ended less similar to the exemplar than before."""


def retry_seeds(seed: int, retries: int) -> list[int]:
    """The run's ANTs seed, then ``retries`` further seeds derived from it (positive int32)."""
    more = np.random.SeedSequence([int(seed), 0x52494744]).generate_state(int(retries))
    return [int(seed), *(int(s) % (2**31 - 2) + 1 for s in more)]


def register_until_better(
    attempt: Callable[[float], tuple[T, float]],
    ncc_before: float,
    seed: int,
    retries: int,
    threads: int = 1,
    tolerance: float = 0.01,
    min_ncc: float | None = None,
    starts: tuple[float, ...] = (0.0,),
) -> tuple[T, float, int]:
    """Run ``attempt`` (one registration from a start rotation in degrees: (result, NCC with
    the fixed image after)) inside an ANTs session seeded by each of :func:`retry_seeds` in
    turn, attempt k starting from ``starts[k % len(starts)]``, until its NCC after is at
    least ``ncc_before`` - ``tolerance`` (the exemplar itself comes back from interpolation a
    hair below its NCC of 1; a NaN before accepts the first) and at least ``min_ncc`` when
    given. When no attempt reaches both, the best one that did not lower the NCC is kept.
    Returns (result, NCC after, attempts made); raises :class:`RigidDiverged` with every
    attempt's NCC when every attempt lowered it."""
    from regwas.register.image.classical import ants_session

    seeds = retry_seeds(seed, retries)
    floor = ncc_before - tolerance
    tried: list[tuple[float, T]] = []
    for k, s in enumerate(seeds):
        with ants_session(s, threads):
            res, score = attempt(float(starts[k % len(starts)]))
        if not score < floor and (min_ncc is None or score >= min_ncc):
            return res, score, k + 1
        tried.append((score, res))
    best = max(range(len(tried)), key=lambda i: tried[i][0])
    if not tried[best][0] < floor:
        return tried[best][1], tried[best][0], len(seeds)
    raise RigidDiverged(
        f"rigid registration diverged: NCC with the exemplar {ncc_before:.3f} before, "
        f"{', '.join(f'{a:.3f}' for a, _ in tried)} after {len(seeds)} attempt(s) (seeds "
        f"{', '.join(map(str, seeds))})"
    )


@dataclass
class RigidResult:
    """The registered image (exemplar grid, row shape), QC (with ``dice_after`` when both
    label images are given) and the transform."""

    image: np.ndarray
    qc: dict
    matrix: np.ndarray  # 2x2, fixed -> moving, RAS
    translation: np.ndarray  # mm: moving point of the fixed world origin, RAS

    @property
    def angle_deg(self) -> float:
        return float(np.degrees(np.arctan2(self.matrix[1, 0], self.matrix[0, 0])))

    def map_points(self, points: np.ndarray) -> np.ndarray:
        """Moving-image world points (RAS mm) of fixed-image world points (n, 2)."""
        return np.asarray(points, float) @ self.matrix.T + self.translation


def _rotation_file(grid: Grid, fixed: np.ndarray, deg: float, tmp: str) -> str:
    """An ANTs transform file: a rotation by ``deg`` (RAS, fixed -> moving) about the centre
    of the fixed image."""
    import ants

    img = grid.to_ants(fixed)
    direction = np.asarray(img.direction, float)
    centre = np.asarray(img.origin, float) + direction @ (
        np.asarray(img.spacing, float) * (np.asarray(img.shape, float) - 1) / 2
    )
    th = np.deg2rad(deg)
    rot = _LPS2 @ np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) @ _LPS2
    tx = ants.create_ants_transform(
        "AffineTransform", dimension=2, matrix=rot, center=centre, translation=np.zeros(2)
    )
    path = os.path.join(tmp, "start.mat")
    ants.write_transform(tx, path)
    return path


def register_rigid(
    fixed: np.ndarray,
    fixed_labels: np.ndarray | None,
    grid: Grid,
    moving: np.ndarray,
    moving_grid: Grid,
    moving_labels: np.ndarray | None = None,
    transform: str = "antsRegistrationSyNQuickRepro[r]",
    metric_mask: np.ndarray | None = None,
    start_deg: float = 0.0,
) -> RigidResult:
    """Register a 2D ``moving`` image to ``fixed`` (the exemplar) rigidly with ANTs
    (the similarity inside ``metric_mask`` only, when given: a region of the fixed image;
    the optimiser starts from a rotation by ``start_deg`` about the fixed image's centre).

    Call inside :func:`regwas.register.image.classical.ants_session` for seeded,
    single-thread (reproducible) registrations."""
    if transform not in RIGID_TYPES:
        raise ValueError(f"transform: one of {RIGID_TYPES}, got {transform!r}")
    if grid.dims != 2:
        raise ValueError("register_rigid: 2D images only")
    # no divergence retry: the multi-start initialiser is affine, and this registration is rigid
    cfg = {"affine_transform": transform, "syn_transform": "SyN", "min_ncc": -1.0, "retry": False}
    with tempfile.TemporaryDirectory(prefix="regwas-rigid-") as tmp:
        init = None if start_deg == 0 else _rotation_file(grid, fixed, start_deg, tmp)
        res = register_ants(
            fixed,
            fixed_labels,
            grid,
            moving,
            moving_grid,
            moving_labels,
            ["ants_affine"],
            cfg,
            native=None,
            metric_mask=metric_mask,
            initial_transform=init,
        )
    # ANTs: x_m = A (x_f - c) + t + c in LPS; RAS = diag(-1, -1) LPS in 2D
    a, t, c = res.affine_matrix, res.affine_translation, res.affine_center
    matrix = _LPS2 @ a @ _LPS2
    offset = _LPS2 @ (t + c - a @ c)
    return RigidResult(
        image=res.rows["ants_affine"],
        qc=res.qc["ants_affine"],
        matrix=matrix,
        translation=offset,
    )

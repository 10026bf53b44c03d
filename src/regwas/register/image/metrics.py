"""Registration QC metrics: normalised cross-correlation, Dice of tissue labels, Jacobians."""

from __future__ import annotations

import numpy as np


def ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Global normalised cross-correlation of two images (inside ``mask`` when given)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if mask is not None:
        m = np.asarray(mask, bool).ravel()
        x, y = x[m], y[m]
    x = x - x.mean()
    y = y - y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else float("nan")


def dice(a: np.ndarray, b: np.ndarray, labels: tuple[int, ...] = (1, 2, 3, 4)) -> dict[int, float]:
    """Dice overlap per label value (NaN for a label absent from both)."""
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    out = {}
    for k in labels:
        x, y = a == k, b == k
        den = x.sum() + y.sum()
        out[k] = float(2 * np.logical_and(x, y).sum() / den) if den else float("nan")
    return out


def mean_dice(a: np.ndarray, b: np.ndarray, labels: tuple[int, ...] = (1, 2, 3, 4)) -> float:
    """Mean Dice over the labels present."""
    return float(np.nanmean(list(dice(a, b, labels).values())))


def jacobian_determinant(displacement: np.ndarray, spacing: tuple[float, ...] | None = None):
    """det(I + Du) of a displacement field u (shape (D, *spatial), in the units of ``spacing``).

    Central differences (numpy.gradient); used for VoxelMorph fields and in tests. A field in
    voxel units takes spacing None (all ones).
    """
    u = np.asarray(displacement, dtype=np.float64)
    d = u.shape[0]
    if u.ndim != d + 1:
        raise ValueError(f"displacement must have shape (D, *spatial) with D = {u.ndim - 1}")
    spacing = tuple(spacing or (1.0,) * d)
    jac = np.empty((d, d, *u.shape[1:]))
    for i in range(d):
        grads = np.gradient(u[i], *spacing)
        for j in range(d):
            jac[i, j] = grads[j] + (1.0 if i == j else 0.0)
    if d == 2:
        return jac[0, 0] * jac[1, 1] - jac[0, 1] * jac[1, 0]
    return (
        jac[0, 0] * (jac[1, 1] * jac[2, 2] - jac[1, 2] * jac[2, 1])
        - jac[0, 1] * (jac[1, 0] * jac[2, 2] - jac[1, 2] * jac[2, 0])
        + jac[0, 2] * (jac[1, 0] * jac[2, 1] - jac[1, 1] * jac[2, 0])
    )


def safe_log(det: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """log of a Jacobian determinant, with non-positive values (folding) clipped at ``floor``."""
    return np.log(np.maximum(np.asarray(det, dtype=np.float64), floor)).astype(np.float32)


def pct_nonpositive(det: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Percentage of voxels (inside ``mask``) whose Jacobian determinant is <= 0 (folding)."""
    d = np.asarray(det)
    if mask is not None:
        d = d[np.asarray(mask, bool)]
    return float(100.0 * np.mean(d <= 0)) if d.size else float("nan")

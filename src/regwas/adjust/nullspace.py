"""Iterated nullspace projection (INLP) done right: projection onto the nullspace of the
ROWS of the fitted directions, held-out R^2 per confounder, NaN-tolerant fits."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.metrics import r2_score

log = logging.getLogger(__name__)


def nullspace_projection(V: np.ndarray, d: int | None = None) -> np.ndarray:
    """P = I - Vᵀ(VVᵀ)⁺V: the orthogonal projection onto the nullspace of the ROWS of V.

    Symmetric and idempotent; V @ P = 0. Computed from an orthonormal basis of the row space
    (SVD), which equals the formula for full row rank and stays exact when rows are dependent.
    """
    V = np.atleast_2d(np.asarray(V, dtype=np.float64))
    d = V.shape[1] if d is None else d
    if V.size == 0:
        return np.eye(d)
    _, s, vt = np.linalg.svd(V, full_matrices=False)
    rank = int((s > s.max() * max(V.shape) * np.finfo(float).eps).sum()) if s.size else 0
    B = vt[:rank]
    return np.eye(d) - B.T @ B


def heldout_split(n: int, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out rows: a seeded random ``test_fraction`` of 0..n-1."""
    rng = np.random.default_rng(seed)
    test = np.zeros(n, dtype=bool)
    test[rng.permutation(n)[: max(1, round(n * test_fraction))]] = True
    return test


def _ridge_direction(
    Z: np.ndarray, y: np.ndarray, alpha: float, scale: float
) -> tuple[np.ndarray, float]:
    """Ridge regression of y on Z with intercept; penalty alpha x rows x ``scale``.

    ``scale`` is the mean per-dimension variance of the ORIGINAL embedding, so the penalty does
    not shrink with the data after projections (round-off left along removed directions stays
    penalised away). The solution lies in the row space of the centred Z, so after a projection
    it has no component along directions already removed. Returns (w, intercept).
    """
    zm = Z.mean(axis=0)
    ym = y.mean()
    Zc = Z - zm
    G = Zc.T @ Zc
    lam = alpha * len(Z) * scale
    w = np.linalg.solve(G + lam * np.eye(G.shape[0]), Zc.T @ (y - ym))
    return w, float(ym - zm @ w)


def heldout_r2(
    z: np.ndarray,
    targets: np.ndarray,
    test: np.ndarray,
    alpha: float,
    scale: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held-out R² of each target column regressed (ridge) on z; rows with NaN target skipped.

    Returns (r2 per target, W, C): W[j] the ridge coefficients and C[j] the cross-covariance
    vector of z and target j, both from the training rows where target j is present.
    A target with fewer than 3 present rows on either side gets R² NaN and zero directions.
    ``scale`` (default: mean column variance of z) sets the ridge penalty's units.
    """
    scale = float(np.mean(np.var(z, axis=0))) if scale is None else scale
    scale = scale if scale > 0 else 1.0
    r2 = np.full(targets.shape[1], np.nan)
    W = np.zeros((targets.shape[1], z.shape[1]))
    C = np.zeros_like(W)
    for j in range(targets.shape[1]):
        y = targets[:, j]
        ok = ~np.isnan(y)
        tr, te = ok & ~test, ok & test
        if tr.sum() < 3 or te.sum() < 3 or np.ptp(y[tr]) == 0 or np.ptp(y[te]) == 0:
            continue
        w, b = _ridge_direction(z[tr], y[tr], alpha, scale)
        r2[j] = r2_score(y[te], z[te] @ w + b)
        W[j] = w
        zt = z[tr]
        C[j] = (zt - zt.mean(axis=0)).T @ (y[tr] - y[tr].mean()) / tr.sum()
    return r2, W, C


def per_confounder(values: np.ndarray, names: list[str], owners: list[str]) -> dict[str, float]:
    """Max over a confounder's target columns (one-hot levels), NaN-aware, as plain floats."""
    out: dict[str, float] = {}
    for owner in dict.fromkeys(owners):
        vals = [v for v, o in zip(values, owners, strict=True) if o == owner and np.isfinite(v)]
        out[owner] = float(max(vals)) if vals else float("nan")
    return out


def inlp(
    z: np.ndarray,
    targets: np.ndarray,
    *,
    r2_threshold: float = 0.01,
    max_iterations: int = 20,
    test_fraction: float = 0.3,
    ridge_alpha: float = 1e-4,
    direction: str = "covariance",
    seed: int = 0,
    names: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Iterated nullspace projection of z against the target columns (NaN = missing).

    Returns (z @ P, P, history) where history holds, per iteration, the held-out R² of each
    target before that iteration's projection and the targets whose direction was removed.
    """
    z = np.asarray(z, dtype=np.float64)
    n, d = z.shape
    names = names or [f"t{j}" for j in range(targets.shape[1])]
    test = heldout_split(n, test_fraction, seed)
    scale = float(np.mean(np.var(z, axis=0))) or 1.0
    V = np.zeros((0, d))
    P = np.eye(d)
    history: list[dict[str, Any]] = []
    for it in range(1, max_iterations + 1):
        zp = z @ P
        r2, W, C = heldout_r2(zp, targets, test, ridge_alpha, scale)
        if direction == "covariance":
            W = C
        hit = np.isfinite(r2) & (r2 > r2_threshold)
        entry = {
            "iteration": it,
            "heldout_r2": {nm: float(v) for nm, v in zip(names, r2, strict=True)},
            "removed": [nm for nm, h in zip(names, hit, strict=True) if h],
        }
        if not hit.any():
            history.append({**entry, "rank_after": int(round(np.trace(P)))})
            log.info("inlp: iteration %d: no confounder above R² %.3g; stop", it, r2_threshold)
            break
        new = W[hit] @ P  # re-project to drop round-off along removed directions
        V = np.vstack([V, new])
        P = nullspace_projection(V, d)
        rank = int(round(np.trace(P)))
        history.append({**entry, "rank_after": rank})
        log.info(
            "inlp: iteration %d removed %d direction(s) (%s); rank now %d of %d",
            it,
            int(hit.sum()),
            ", ".join(entry["removed"]),
            rank,
            d,
        )
        if rank == 0:
            log.warning("inlp: every dimension removed; the embedding is now constant")
            break
    else:
        log.warning(
            "inlp: stopped at max_iterations=%d with confounders still above R² %.3g",
            max_iterations,
            r2_threshold,
        )
    return z @ P, P, history


def kept_basis(P: np.ndarray) -> np.ndarray:
    """An orthonormal basis (d x rank) of the space an orthogonal projection P keeps.

    Embeddings written as ``z @ kept_basis(P)`` carry exactly rank = d - r dimensions after r
    directions were removed: ``z @ P`` stored in float32 would revive the removed directions as
    rounding noise, which a later whitening (the GWAS) would blow up to full dimensions.
    Columns are ordered by the original coordinate they load on most, each with a positive
    largest entry, so the basis is deterministic.
    """
    values, vectors = np.linalg.eigh((P + P.T) / 2)
    basis = vectors[:, values > 0.5]
    lead = np.abs(basis).argmax(axis=0)
    basis = basis[:, np.argsort(lead, kind="stable")]
    signs = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(basis.shape[1])])
    return basis * np.where(signs == 0, 1.0, signs)

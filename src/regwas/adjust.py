"""Confounder removal from embeddings: linear residualisation or iterated nullspace projection.

Two methods (config section ``adjust``):

- ``residualise``: every embedding dimension is replaced by its residual after ordinary least
  squares on the covariates (intercept + numeric columns + one-hot text columns). Coefficients
  are fitted on the rows with complete covariates; a row with a missing covariate value is
  adjusted with that value replaced by the column mean of the complete rows (logged).
- ``inlp``: iterated nullspace projection (Ravfogel et al. 2020, ACL), done so that it is exact
  for several confounders. Each confounder column (a numeric covariate, or each 0/1 dummy of a
  text covariate: a linear probability model) is regressed on the current embedding by ridge
  regression on a seeded training split, using only the rows where that confounder is present,
  and judged by its R² on the held-out rows. A confounder whose held-out R² exceeds
  ``r2_threshold`` contributes one direction (a row of V), fitted on the training rows:
  ``direction: covariance`` (default) takes the cross-covariance vector Zᵀ(c - c̄) (the ridge
  direction in the limit of a large penalty); ``direction: regression`` takes the ridge
  coefficient vector itself (Ravfogel's choice). The embedding is projected onto the nullspace
  of ALL rows of V gathered so far, P = I - Vᵀ(VVᵀ)⁺V (symmetric, idempotent, V P = 0), and the
  loop repeats until no confounder is linearly recoverable on held-out rows or
  ``max_iterations`` is reached. The adjusted embedding is z P: it keeps its d columns (so
  downstream code sees the same latent size) but has rank d - rank(V); the removed dimensions
  are reported.

  Why covariance directions: after projecting out the cross-covariance vectors, Cov(zP, c) = 0,
  so no linear predictor of c from zP does better than the mean (the least-squares erasure
  condition of LEACE, Belrose et al. 2023) and one iteration usually suffices. Regression
  directions w = Σ⁻¹σ leave Cov(zP, c) = PΣw ≠ 0; when the embedding carries other strong
  signal the loop then keeps removing directions and can strip the whole embedding (in the
  tests' cohort: 16 of 16 dimensions with regression directions, 4 with covariance ones).

The reference implementation projected onto the complement of each direction separately
(I - Σ ŵᵢŵᵢᵀ), which is not a projection and leaves information when the directions of two
confounders are not orthogonal; it also judged recoverability in-sample and failed on NaN.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from regwas.config import merge_defaults
from regwas.covariates import design_matrix, residualise
from regwas.errors import InputError
from regwas.io import atomic_path, config_digest, read_embeddings, read_tsv, write_embeddings

log = logging.getLogger(__name__)

PCS = [f"PC{i}" for i in range(1, 11)]

DEFAULTS: dict[str, Any] = {
    "method": "residualise",
    "covariates": ["age", "sex", "site", *PCS],
    "r2_threshold": 0.01,
    "max_iterations": 20,
    "test_fraction": 0.3,
    "ridge_alpha": 1e-4,
    "direction": "covariance",
}

METHODS = ("residualise", "inlp")
DIRECTIONS = ("covariance", "regression")


def _config(cfg: dict | None) -> dict[str, Any]:
    """Merge ``cfg`` over DEFAULTS and check the values (InputError names the bad key)."""
    c = merge_defaults(DEFAULTS, cfg, "adjust")
    if c["method"] not in METHODS:
        raise InputError(f"adjust.method: '{c['method']}' is not one of {list(METHODS)}")
    if not isinstance(c["covariates"], list) or not c["covariates"]:
        raise InputError("adjust.covariates: must be a non-empty list of column names")
    if not 0 < float(c["test_fraction"]) < 1:
        raise InputError(f"adjust.test_fraction: {c['test_fraction']} is not in (0, 1)")
    if int(c["max_iterations"]) < 1:
        raise InputError(f"adjust.max_iterations: {c['max_iterations']} must be >= 1")
    if c["direction"] not in DIRECTIONS:
        raise InputError(f"adjust.direction: '{c['direction']}' is not one of {list(DIRECTIONS)}")
    if float(c["ridge_alpha"]) < 0:
        raise InputError(f"adjust.ridge_alpha: {c['ridge_alpha']} must be >= 0")
    return c


def align_samples(ids: np.ndarray, samples: pd.DataFrame, source: str = "samples") -> pd.DataFrame:
    """Rows of ``samples`` in the order of the embedding ``ids`` (InputError if any id is absent)."""
    if "sample_id" not in samples.columns:
        raise InputError(f"{source}: no 'sample_id' column (columns: {list(samples.columns)[:10]})")
    sid = samples["sample_id"].astype(str)
    dup = sid[sid.duplicated()]
    if len(dup):
        raise InputError(f"{source}: duplicate sample ids: {', '.join(dup.iloc[:5])}")
    table = samples.assign(sample_id=sid).set_index("sample_id", drop=False)
    ids = np.asarray(ids).astype(str)
    missing = ~pd.Index(ids).isin(table.index)
    if missing.any():
        raise InputError(
            f"{source}: {int(missing.sum())} embedded sample ids are not in the samples table "
            f"(e.g. {', '.join(ids[missing][:5])})"
        )
    return table.loc[ids].reset_index(drop=True)


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


def _targets(table: pd.DataFrame, covariates: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Confounder target columns (numeric as is, text one-hot), NaN where missing."""
    X, names, _ = design_matrix(
        table, covariates, source="adjust.covariates", intercept=False, allow_missing=True
    )
    owners = []
    for name in names:
        owners.append(name.split("[", 1)[0] if "[" in name else name)
    return X, names, owners


def _split(n: int, test_fraction: float, seed: int) -> np.ndarray:
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


def _per_confounder(values: np.ndarray, names: list[str], owners: list[str]) -> dict[str, float]:
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
    test = _split(n, test_fraction, seed)
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
            it, int(hit.sum()), ", ".join(entry["removed"]), rank, d,
        )
        if rank == 0:
            log.warning("inlp: every dimension removed; the embedding is now constant")
            break
    else:
        log.warning("inlp: stopped at max_iterations=%d with confounders still above R² %.3g",
                    max_iterations, r2_threshold)
    return z @ P, P, history


def adjust_embeddings(
    ids: np.ndarray, z: np.ndarray, samples: pd.DataFrame, cfg: dict | None, seed: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Remove the configured confounders from z (rows in the order of ``ids``).

    Returns (z_adjusted n x d, report) where the report gives, per confounder, the held-out R²
    of a ridge fit on the same seeded split before and after, and (inlp) the dimensions removed.
    """
    c = _config(cfg)
    z = np.asarray(z, dtype=np.float64)
    table = align_samples(ids, samples)
    targets, names, owners = _targets(table, c["covariates"])
    test = _split(len(z), float(c["test_fraction"]), seed)
    alpha = float(c["ridge_alpha"])
    scale = float(np.mean(np.var(z, axis=0))) or 1.0
    before = heldout_r2(z, targets, test, alpha, scale)[0]
    report: dict[str, Any] = {
        "method": c["method"],
        "covariates": list(c["covariates"]),
        "n": int(len(z)),
        "d": int(z.shape[1]),
        "seed": int(seed),
    }
    if c["method"] == "residualise":
        X, xnames, complete = design_matrix(
            table, c["covariates"], source="adjust.covariates", allow_missing=True
        )
        if not complete.any():
            raise InputError("adjust.covariates: no sample has all covariates present")
        n_inc = int((~complete).sum())
        if n_inc:
            log.warning("residualise: %d samples with missing covariates use column means", n_inc)
            means = X[complete].mean(axis=0)
            X = np.where(np.isnan(X), means, X)
        coef = np.linalg.lstsq(X[complete], z[complete], rcond=None)[0]
        z_adj = z - X @ coef
        # the complete rows are exactly the shared QR residuals (regwas.covariates.residualise)
        z_adj[complete] = residualise(z[complete], X[complete])
        report["design_columns"] = xnames
        report["samples_imputed"] = n_inc
        report["dimensions_removed"] = 0
    else:
        z_adj, P, history = inlp(
            z, targets, r2_threshold=float(c["r2_threshold"]),
            max_iterations=int(c["max_iterations"]), test_fraction=float(c["test_fraction"]),
            ridge_alpha=alpha, direction=c["direction"], seed=seed, names=names,
        )
        rank = int(round(np.trace(P)))
        report["r2_threshold"] = float(c["r2_threshold"])
        report["direction"] = c["direction"]
        report["iterations"] = history
        report["dimensions_removed"] = int(z.shape[1] - rank)
        report["rank"] = rank
    after = heldout_r2(z_adj, targets, test, alpha, scale)[0]
    report["heldout_r2_before"] = _per_confounder(before, names, owners)
    report["heldout_r2_after"] = _per_confounder(after, names, owners)
    report["missing_values"] = {
        o: int(np.isnan(targets[:, [i for i, w in enumerate(owners) if w == o]]).any(axis=1).sum())
        for o in dict.fromkeys(owners)
    }
    return z_adj, report


def adjust_file(
    embeddings_path: str | os.PathLike,
    samples_path: str | os.PathLike,
    out_path: str | os.PathLike,
    cfg: dict | None,
    seed: int = 0,
    report_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Adjust an embeddings.parquet; write embeddings.adjusted.parquet and a JSON report.

    The output keeps the sample ids and the input's metadata, extended with adjust_method,
    adjust_covariates, adjust_config_digest, adjust_seed and adjust_dimensions_removed.
    The report defaults to adjust_report.json beside ``out_path``.
    """
    c = _config(cfg)
    ids, z, meta = read_embeddings(embeddings_path)
    samples = read_tsv(samples_path, dtype={"sample_id": str})
    z_adj, report = adjust_embeddings(ids, z, samples, c, seed)
    report["embeddings"] = str(embeddings_path)
    meta = {
        **meta,
        "adjust_method": c["method"],
        "adjust_covariates": ",".join(c["covariates"]),
        "adjust_config_digest": config_digest(c),
        "adjust_seed": str(seed),
        "adjust_dimensions_removed": str(report["dimensions_removed"]),
    }
    write_embeddings(ids, z_adj, out_path, meta)
    report_path = Path(report_path) if report_path else Path(out_path).parent / "adjust_report.json"
    with atomic_path(report_path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI: regwas adjust --embeddings E --samples S --method M --covariates a,b --out OUT."""
    parser.add_argument("--embeddings", required=True, help="embeddings.parquet")
    parser.add_argument("--samples", required=True, help="samples.tsv (sample_id + covariates)")
    parser.add_argument("--out", required=True, help="output embeddings.adjusted.parquet")
    parser.add_argument("--method", choices=METHODS, default=DEFAULTS["method"])
    parser.add_argument(
        "--covariates", default=",".join(DEFAULTS["covariates"]),
        help="comma-separated confounder columns (default: %(default)s)",
    )
    parser.add_argument("--r2-threshold", type=float, default=DEFAULTS["r2_threshold"])
    parser.add_argument("--max-iterations", type=int, default=DEFAULTS["max_iterations"])
    parser.add_argument("--report", default=None, help="JSON report (default: beside --out)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    """Run the adjust subcommand."""
    cfg = {
        "method": args.method,
        "covariates": [c.strip() for c in args.covariates.split(",") if c.strip()],
        "r2_threshold": args.r2_threshold,
        "max_iterations": args.max_iterations,
    }
    report = adjust_file(args.embeddings, args.samples, args.out, cfg, args.seed, args.report)
    log.info("adjust: %s, held-out R² after: %s", report["method"], report["heldout_r2_after"])
    return 0

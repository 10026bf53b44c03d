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

Afterwards (``normalise: rank_inverse_normal``, the default) every kept dimension is replaced
by the normal quantiles of its ranks (:func:`rank_inverse_normal`), as imaging GWAS commonly do
with their phenotypes; the outlier report is computed before it. ``normalise: none`` keeps the
residuals as they are.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from regwas.adjust.nullspace import heldout_r2, heldout_split, inlp, kept_basis, per_confounder
from regwas.config.schema import defaults, section
from regwas.covariates import design_matrix, residualise
from regwas.errors import InputError
from regwas.io.atomic import atomic_path, config_digest
from regwas.io.embeddings import read_embeddings, write_embeddings
from regwas.io.tables import align_samples, read_tsv

log = logging.getLogger(__name__)


METHODS = ("residualise", "inlp")
DIRECTIONS = ("covariance", "regression")


def _targets(table: pd.DataFrame, covariates: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Confounder target columns (numeric as is, text one-hot), NaN where missing."""
    X, names, _ = design_matrix(
        table, covariates, source="covariates", intercept=False, allow_missing=True
    )
    owners = []
    for name in names:
        owners.append(name.split("[", 1)[0] if "[" in name else name)
    return X, names, owners


def covariate_list(covariates: list[str] | tuple[str, ...] | None) -> list[str]:
    """The covariate columns: those given, else the config's one covariate set (``covariates``,
    shared with the GWAS and the PheWAS)."""
    cols = defaults("covariates") if covariates is None else covariates
    cols = [str(c) for c in cols]
    if not cols:
        raise InputError("covariates: the covariate set is empty")
    return cols


def adjust_embeddings(
    ids: np.ndarray,
    z: np.ndarray,
    samples: pd.DataFrame,
    cfg: dict | None,
    seed: int = 0,
    covariates: list[str] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Remove the covariates (default: the config's one set, ``covariates``) from z (rows in
    the order of ``ids``). The GWAS partials the same set out of the genotypes (it refuses
    embeddings whose ``adjust_covariates`` it does not cover).

    Returns (z_adjusted, report) where the report gives, per confounder, the held-out R² of a
    ridge fit on the same seeded split before and after, and (inlp) the dimensions removed.
    Residualisation keeps d columns; inlp returns the d - r kept dimensions in an orthonormal
    basis of the kept space (the removed directions are gone, not zeroed).
    """
    c = section("adjust", cfg)
    cols = covariate_list(covariates)
    z = np.asarray(z, dtype=np.float64)
    table = align_samples(ids, samples)
    targets, names, owners = _targets(table, cols)
    test = heldout_split(len(z), float(c["test_fraction"]), seed)
    alpha = float(c["ridge_alpha"])
    scale = float(np.mean(np.var(z, axis=0))) or 1.0
    before = heldout_r2(z, targets, test, alpha, scale)[0]
    report: dict[str, Any] = {
        "method": c["method"],
        "covariates": cols,
        "n": int(len(z)),
        "d": int(z.shape[1]),
        "seed": int(seed),
    }
    if c["method"] == "residualise":
        X, xnames, complete = design_matrix(table, cols, source="covariates", allow_missing=True)
        if not complete.any():
            raise InputError("covariates: no sample has all covariates present")
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
            z,
            targets,
            r2_threshold=float(c["r2_threshold"]),
            max_iterations=int(c["max_iterations"]),
            test_fraction=float(c["test_fraction"]),
            ridge_alpha=alpha,
            direction=c["direction"],
            seed=seed,
            names=names,
        )
        rank = int(round(np.trace(P)))
        z_adj = z @ kept_basis(P)  # exactly the kept dimensions (rank-true, see kept_basis)
        report["r2_threshold"] = float(c["r2_threshold"])
        report["direction"] = c["direction"]
        report["iterations"] = history
        report["dimensions_removed"] = int(z.shape[1] - rank)
        report["rank"] = rank
    report["outliers"] = embedding_outliers(ids, z_adj)
    report["normalise"] = c["normalise"]
    if c["normalise"] == "rank_inverse_normal":
        z_adj = rank_inverse_normal(z_adj)
    after = heldout_r2(z_adj, targets, test, alpha, scale)[0]
    report["heldout_r2_before"] = per_confounder(before, names, owners)
    report["heldout_r2_after"] = per_confounder(after, names, owners)
    report["missing_values"] = {
        o: int(np.isnan(targets[:, [i for i, w in enumerate(owners) if w == o]]).any(axis=1).sum())
        for o in dict.fromkeys(owners)
    }
    return z_adj, report


def rank_inverse_normal(z: np.ndarray) -> np.ndarray:
    """Each column replaced by the normal quantiles of its ranks, Φ⁻¹((r − 3/8) / (n + 1/4))
    (Blom; ties get their average rank). The latent GWAS is a MANOVA whose F test assumes
    normal residuals: with heavy-tailed embeddings a few extreme people make every rare variant
    they carry look associated (the demo's false loci at MAF 1-2 %), while the transform keeps
    each dimension's order and bounds its extremes (~3.5 SD at n = 2,000)."""
    from scipy.stats import norm, rankdata

    z = np.asarray(z, dtype=np.float64)
    n = z.shape[0]
    if n == 0:
        return z
    ranks = rankdata(z, axis=0, method="average")
    return norm.ppf((ranks - 0.375) / (n + 0.25))


OUTLIER_ALPHA = 0.05
OUTLIERS_LISTED = 20


def embedding_outliers(ids: np.ndarray, z: np.ndarray) -> dict[str, Any]:
    """People whose adjusted embedding is far from the rest: squared Mahalanobis distance
    D² = (z - z̄)ᵀ S⁺ (z - z̄) with S the sample covariance (pseudo-inverse over its numerical
    rank k), flagged when the chi-square(k) tail probability of D² is below 0.05 / n
    (Bonferroni). Reported, never removed: a single extreme person (a failed registration, a
    corrupt record) can carry every rare variant they hold to genome-wide significance, which
    is how the demo once found false loci. The chi-square reference assumes Gaussian
    embeddings; heavy-tailed ones flag more people, so read the list, not the count.
    """
    from scipy.stats import chi2

    z = np.asarray(z, dtype=np.float64)
    n = len(z)
    out: dict[str, Any] = {"alpha": OUTLIER_ALPHA, "threshold_p": OUTLIER_ALPHA / max(n, 1)}
    if n < 3 or z.shape[1] == 0:
        return {**out, "n_flagged": 0, "flagged": []}
    zc = z - z.mean(axis=0)
    u, sv, _ = np.linalg.svd(zc, full_matrices=False)
    k = int((sv > sv.max() * max(zc.shape) * np.finfo(np.float64).eps).sum()) if sv.size else 0
    # D²_i = (n - 1) * sum_j u_ij² over the k leading left singular vectors
    d2 = (n - 1) * np.square(u[:, :k]).sum(axis=1)
    logp = chi2.logsf(d2, k)
    order = np.argsort(logp)
    flagged = [i for i in order if logp[i] < np.log(out["threshold_p"])]
    out.update(rank=k, n_flagged=len(flagged), max_mahalanobis_sq=float(d2.max()))
    out["flagged"] = [
        {
            "sample_id": str(ids[i]),
            "mahalanobis_sq": round(float(d2[i]), 2),
            "log10_p": round(float(logp[i] / np.log(10)), 2),
        }
        for i in flagged[:OUTLIERS_LISTED]
    ]
    if flagged:
        shown = ", ".join(
            f"{r['sample_id']} (D² {r['mahalanobis_sq']:.0f})" for r in out["flagged"][:5]
        )
        log.warning(
            "%d of %d people have an outlying adjusted embedding (chi-square(%d) p < %.2g): %s; "
            "check their inputs (registration QC, records): one extreme person can make false "
            "loci at the rare variants they carry",
            len(flagged),
            n,
            k,
            out["threshold_p"],
            shown,
        )
    return out


def adjust_file(
    embeddings_path: str | os.PathLike,
    samples_path: str | os.PathLike,
    out_path: str | os.PathLike,
    cfg: dict | None,
    seed: int = 0,
    report_path: str | os.PathLike | None = None,
    covariates: list[str] | None = None,
) -> dict[str, Any]:
    """Adjust an embeddings.parquet; write embeddings.adjusted.parquet and a JSON report.

    The output keeps the sample ids and the input's metadata, extended with adjust_method,
    adjust_covariates, adjust_config_digest, adjust_seed and adjust_dimensions_removed.
    The report defaults to adjust_report.json beside ``out_path``.
    """
    c = section("adjust", cfg)
    cols = covariate_list(covariates)
    ids, z, meta = read_embeddings(embeddings_path)
    samples = read_tsv(samples_path, dtype={"sample_id": str})
    z_adj, report = adjust_embeddings(ids, z, samples, c, seed, cols)
    report["embeddings"] = str(embeddings_path)
    meta = {
        **meta,
        "adjust_method": c["method"],
        "adjust_covariates": ",".join(cols),
        "adjust_config_digest": config_digest({**c, "covariates": cols}),
        "adjust_seed": str(seed),
        "adjust_dimensions_removed": str(report["dimensions_removed"]),
    }
    write_embeddings(ids, z_adj, out_path, meta)
    report_path = Path(report_path) if report_path else Path(out_path).parent / "adjust_report.json"
    with atomic_path(report_path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    return report

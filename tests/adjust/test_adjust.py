"""Confounder removal: residualisation vs statsmodels OLS, INLP against independent sklearn checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from regwas.adjust.confounders import adjust_embeddings, adjust_file
from regwas.adjust.nullspace import nullspace_projection
from regwas.cli import main as cli_main
from regwas.errors import InputError
from regwas.io.embeddings import read_embeddings, write_embeddings

THRESHOLD = 0.01
# INLP judges R² on its own seeded split; an independent CV estimate has its own sampling
# error (~0.004 at n=1500, d=16), so the runs use half the threshold that the checks apply.
RUN_THRESHOLD = THRESHOLD / 2


def _cohort(n: int = 1500, d: int = 16, seed: int = 1, nan_age: float = 0.0):
    """Embeddings carrying age, PC1 (correlated with age) and a 3-level site, plus signal."""
    rng = np.random.default_rng(seed)
    age = rng.normal(55, 8, n)
    pc1 = 0.6 * (age - 55) / 8 + 0.8 * rng.normal(size=n)
    site = rng.choice(["A", "B", "C"], n)
    site_num = (site == "B") * 1.0 + (site == "C") * -1.5
    biology = rng.normal(size=(n, 3))
    load = rng.normal(size=(6, d))
    z = np.column_stack([(age - 55) / 8, pc1, site_num, biology]) @ load
    z += 0.5 * rng.normal(size=(n, d))
    ids = np.array([f"s{i:05d}" for i in range(n)])
    samples = pd.DataFrame({"sample_id": ids, "age": age, "PC1": pc1, "site": site})
    if nan_age:
        samples.loc[rng.random(n) < nan_age, "age"] = np.nan
    return ids, z, samples


def _cv_r2(z: np.ndarray, y: np.ndarray, seed: int = 7) -> float:
    """Independent check: 5-fold CV R² of OLS (scikit-learn) on the rows where y is present."""
    ok = ~np.isnan(y)
    cv = KFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(LinearRegression(), z[ok], y[ok], cv=cv, scoring="r2").mean())


def test_inlp_removes_every_confounder_on_held_out_data():
    ids, z, samples = _cohort()
    cfg = {"method": "inlp", "r2_threshold": RUN_THRESHOLD, "normalise": "none"}
    z_adj, report = adjust_embeddings(ids, z, samples, cfg, 3, ["age", "PC1", "site"])
    # rank-true: exactly the kept dimensions, orthonormal coordinates of the kept space
    assert z_adj.shape == (len(z), 16 - report["dimensions_removed"])
    assert _cv_r2(z, samples["age"].to_numpy()) > 0.5  # the confounders were recoverable
    for col in ["age", "PC1"]:
        assert _cv_r2(z_adj, samples[col].to_numpy()) < THRESHOLD
    for level in ["A", "B", "C"]:
        assert _cv_r2(z_adj, (samples["site"] == level).to_numpy(float)) < THRESHOLD
    # a linear classifier for the categorical confounder is back to chance (1/3)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    bacc = cross_val_score(
        LogisticRegression(max_iter=2000),
        z_adj,
        samples["site"],
        cv=cv,
        scoring="balanced_accuracy",
    ).mean()
    assert bacc < 0.40
    assert report["dimensions_removed"] >= 3
    assert all(v < RUN_THRESHOLD for v in report["heldout_r2_after"].values())
    assert report["heldout_r2_before"]["age"] > 0.5
    # biology that is not a confounder survives (3 latent factors of 16 dims)
    assert (
        np.linalg.matrix_rank(z_adj - z_adj.mean(0), tol=1e-6) == 16 - report["dimensions_removed"]
    )


def test_inlp_tolerates_missing_confounder_values():
    ids, z, samples = _cohort(nan_age=0.15, seed=2)
    cfg = {"method": "inlp", "r2_threshold": RUN_THRESHOLD, "normalise": "none"}
    z_adj, report = adjust_embeddings(ids, z, samples, cfg, 0, ["age", "PC1"])
    assert np.isfinite(z_adj).all()
    assert report["missing_values"]["age"] == int(samples["age"].isna().sum()) > 0
    assert _cv_r2(z_adj, samples["age"].to_numpy()) < THRESHOLD
    assert _cv_r2(z_adj, samples["PC1"].to_numpy()) < THRESHOLD


def test_nullspace_projection_is_symmetric_idempotent_with_rank_d_minus_k():
    rng = np.random.default_rng(0)
    d, k = 12, 3
    V = rng.normal(size=(k, d))
    P = nullspace_projection(V)
    np.testing.assert_allclose(P, P.T, atol=1e-12)
    np.testing.assert_allclose(P @ P, P, atol=1e-12)
    assert np.linalg.matrix_rank(P) == d - k
    np.testing.assert_allclose(V @ P, 0, atol=1e-12)
    formula = np.eye(d) - V.T @ np.linalg.inv(V @ V.T) @ V
    np.testing.assert_allclose(P, formula, atol=1e-12)
    # dependent rows: the rank counts distinct directions
    P2 = nullspace_projection(np.vstack([V, V[0] + V[1]]))
    assert np.linalg.matrix_rank(P2) == d - k


def test_rows_not_columns_two_correlated_confounders():
    """With non-orthogonal directions, per-direction complements leave a confounder recoverable."""
    rng = np.random.default_rng(5)
    n, d = 4000, 6
    c1 = rng.normal(size=n)
    c2 = 0.8 * c1 + 0.6 * rng.normal(size=n)  # correlated confounders
    a = np.array([1.0, 0.5, 0, 0, 0, 0])
    b = np.array([0.6, 1.0, 0.2, 0, 0, 0])
    z = np.outer(c1, a) + np.outer(c2, b) + 0.3 * rng.normal(size=(n, d))
    zc = z - z.mean(0)
    V = np.vstack([zc.T @ (c - c.mean()) / n for c in (c1, c2)])  # cross-covariance directions
    assert abs(V[0] @ V[1]) / np.linalg.norm(V[0]) / np.linalg.norm(V[1]) > 0.8

    def insample_r2(P: np.ndarray, y: np.ndarray) -> float:
        return LinearRegression().fit(z @ P, y).score(z @ P, y)

    # the reference implementation's construction: I minus the sum of per-direction projections
    u = V / np.linalg.norm(V, axis=1, keepdims=True)
    P_wrong = np.eye(d) - u.T @ u
    P = nullspace_projection(V)
    assert max(insample_r2(P_wrong, c1), insample_r2(P_wrong, c2)) > 0.1
    assert insample_r2(P, c1) < 1e-10 and insample_r2(P, c2) < 1e-10
    np.testing.assert_allclose(V @ P, 0, atol=1e-12)


def test_regression_directions_also_converge_below_threshold():
    ids, z, samples = _cohort(n=1500, d=16)
    cfg = {
        "method": "inlp",
        "r2_threshold": RUN_THRESHOLD,
        "direction": "regression",
        "normalise": "none",
    }
    z_adj, report = adjust_embeddings(ids, z, samples, cfg, 1, ["age"])
    assert report["heldout_r2_after"]["age"] < RUN_THRESHOLD
    assert _cv_r2(z_adj, samples["age"].to_numpy()) < THRESHOLD
    # covariance directions remove fewer dimensions for the same confounder
    cov_cfg = {**cfg, "direction": "covariance"}
    _, rep_cov = adjust_embeddings(ids, z, samples, cov_cfg, 1, ["age"])
    assert rep_cov["dimensions_removed"] <= report["dimensions_removed"]


def test_residualise_equals_statsmodels_ols_residuals():
    ids, z, samples = _cohort(n=400, d=5)
    z_adj, report = adjust_embeddings(
        ids, z, samples, {"method": "residualise", "normalise": "none"}, 0, ["age", "PC1", "site"]
    )
    data = samples.copy()
    for j in range(z.shape[1]):
        data["y"] = z[:, j]
        resid = smf.ols("y ~ age + PC1 + C(site)", data=data).fit().resid.to_numpy()
        np.testing.assert_allclose(z_adj[:, j], resid, atol=1e-9)
    assert report["heldout_r2_after"]["age"] < 0.0 + 1e-9


def test_adjust_is_seed_deterministic():
    ids, z, samples = _cohort(n=600, d=8)
    cfg = {"method": "inlp", "r2_threshold": RUN_THRESHOLD, "normalise": "none"}
    a, ra = adjust_embeddings(ids, z, samples, cfg, 11, ["age", "site"])
    b, rb = adjust_embeddings(ids, z, samples, cfg, 11, ["age", "site"])
    np.testing.assert_array_equal(a, b)
    assert ra == rb or json.dumps(ra, sort_keys=True) == json.dumps(rb, sort_keys=True)


def report_dims(out):
    return json.loads((out.parent / "adjust_report.json").read_text())["dimensions_removed"]


def test_inlp_writes_exactly_the_kept_dimensions_and_the_gwas_tests_them(tmp_path):
    """After r directions are removed the stored float32 embeddings have d - r columns whose
    span is the kept space (z P), and the GWAS's df1 is d - r (float32 rounding of z P used to
    revive the removed directions and the GWAS tested d)."""
    from regwas.adjust import kept_basis, nullspace_projection

    rng = np.random.default_rng(7)
    V = rng.normal(size=(3, 10))
    P = nullspace_projection(V, 10)
    B = kept_basis(P)
    assert B.shape == (10, 7)
    np.testing.assert_allclose(B.T @ B, np.eye(7), atol=1e-12)
    np.testing.assert_allclose(B @ B.T, P, atol=1e-12)
    ids, z, samples = _cohort(n=800, d=8)
    cfg = {"method": "inlp", "r2_threshold": RUN_THRESHOLD, "normalise": "none"}
    emb = tmp_path / "e.parquet"
    write_embeddings(ids, z, emb)
    out = tmp_path / "adj.parquet"
    adjust_file(emb, _write(samples, tmp_path), out, cfg, 5, covariates=["age", "PC1", "site"])
    r = report_dims(out)
    assert r >= 1
    _, z_out, _ = read_embeddings(out)
    assert z_out.shape == (len(z), 8 - r)
    s = np.linalg.svd(z_out - z_out.mean(0), compute_uv=False)
    assert s[-1] / s[0] > 1e-3  # no dimension is rounding noise
    # the GWAS's latent basis: d - r dimensions now; z P stored as float32 (rank d - r up to
    # float32 rounding) also gives d - r: the rank tolerance is float32's, not float64's
    from regwas.associate.gwas import prepare_basis

    C = np.ones((len(z), 1))
    assert prepare_basis(z_out, C).d == 8 - r
    P = nullspace_projection(rng.normal(size=(r, 8)), 8)
    assert prepare_basis((z @ P).astype(np.float32).astype(np.float64), C).d == 8 - r


def _write(samples, tmp_path):
    path = tmp_path / "samples.tsv"
    samples.to_csv(path, sep="\t", index=False)
    return path


def test_adjust_file_and_cli(tmp_path):
    ids, z, samples = _cohort(n=500, d=8)
    emb = tmp_path / "embeddings.parquet"
    write_embeddings(ids, z, emb, {"modality": "ecg", "space": "native"})
    samples_path = tmp_path / "samples.tsv"
    samples.iloc[::-1].to_csv(samples_path, sep="\t", index=False)  # different row order
    out = tmp_path / "adj" / "embeddings.adjusted.parquet"
    rc = cli_main(
        [
            "adjust",
            "--embeddings",
            str(emb),
            "--samples",
            str(samples_path),
            "--method",
            "inlp",
            "--covariates",
            "age,PC1,site",
            "--r2-threshold",
            str(RUN_THRESHOLD),
            "--out",
            str(out),
            "--seed",
            "4",
        ]
    )
    assert rc == 0
    ids2, z2, meta = read_embeddings(out)
    np.testing.assert_array_equal(ids2, ids)
    assert meta["modality"] == "ecg" and meta["adjust_method"] == "inlp"
    assert z2.shape == (len(z), 8 - report_dims(out))
    report = json.loads((out.parent / "adjust_report.json").read_text())
    assert report["dimensions_removed"] == int(meta["adjust_dimensions_removed"]) >= 3
    assert _cv_r2(z2, samples["age"].to_numpy()) < THRESHOLD + 0.005  # float32 storage
    # a sample missing from the table is a clear input error, nothing written
    samples.iloc[1:].to_csv(samples_path, sep="\t", index=False)
    with pytest.raises(InputError, match="not in the samples table"):
        adjust_file(emb, samples_path, tmp_path / "x.parquet", {}, 0, covariates=["age"])
    assert not (tmp_path / "x.parquet").exists()
    rc = cli_main(
        [
            "adjust",
            "--embeddings",
            str(emb),
            "--samples",
            str(samples_path),
            "--covariates",
            "nope",
            "--out",
            str(tmp_path / "y.parquet"),
        ]
    )
    assert rc == 2


def test_embedding_outliers_match_a_direct_mahalanobis_and_flag_a_planted_outlier():
    """D² equals scipy's Mahalanobis distance with the inverse sample covariance; Gaussian
    embeddings flag nobody at the Bonferroni threshold; one person moved 12 SD in a
    direction is flagged, and listed first."""
    from scipy.spatial.distance import mahalanobis

    from regwas.adjust.confounders import embedding_outliers

    rng = np.random.default_rng(7)
    n, d = 2000, 8
    z = rng.standard_normal((n, d)) @ rng.standard_normal((d, d))
    ids = np.array([f"S{i:04d}" for i in range(n)])
    rep = embedding_outliers(ids, z)
    assert rep["rank"] == d and rep["n_flagged"] == 0
    z[123] += 12 * z.std(axis=0)
    rep = embedding_outliers(ids, z)
    vi = np.linalg.inv(np.cov(z.T))
    direct = mahalanobis(z[123], z.mean(axis=0), vi) ** 2
    assert rep["flagged"][0]["sample_id"] == "S0123"
    np.testing.assert_allclose(rep["flagged"][0]["mahalanobis_sq"], direct, rtol=1e-4)
    assert rep["n_flagged"] == 1


def test_rank_inverse_normal_equals_blom_scores_and_tames_one_extreme_person():
    """Each column becomes norm.ppf((rank - 3/8) / (n + 1/4)) (average ranks for ties), the
    default of adjust; with one person 40 SD out on a heavy-tailed dimension, the OLS test of a
    rare variant they carry (statsmodels) is genome-wide significant on the raw residuals and
    not after the transform."""
    import statsmodels.api as sm
    from scipy.stats import norm, rankdata

    from regwas.adjust.confounders import rank_inverse_normal

    rng = np.random.default_rng(4)
    n = 2000
    z = rng.standard_t(3, size=(n, 2))
    z[:3, 1] = 1.5  # ties
    got = rank_inverse_normal(z)
    want = norm.ppf((rankdata(z, axis=0) - 0.375) / (n + 0.25))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.allclose(got[:3, 1], got[0, 1])
    y = rng.standard_normal(n)
    y[7] = 40.0
    g = np.zeros(n)
    g[rng.choice(np.arange(8, n), 25, replace=False)] = 1.0
    g[7] = 1.0  # the extreme person carries the rare allele (MAC 26)
    X = sm.add_constant(g)
    p_raw = sm.OLS(y, X).fit().pvalues[1]
    p_int = sm.OLS(rank_inverse_normal(y[:, None])[:, 0], X).fit().pvalues[1]
    assert p_raw < 5e-8 and p_int > 1e-3, (p_raw, p_int)
    ids, zc, samples = _cohort(n=300, d=4)
    z_adj, rep = adjust_embeddings(ids, zc, samples, {"method": "residualise"}, 0, ["age"])
    assert rep["normalise"] == "rank_inverse_normal"
    np.testing.assert_allclose(np.sort(z_adj[:, 0]), norm.ppf((np.arange(1, 301) - 0.375) / 300.25))

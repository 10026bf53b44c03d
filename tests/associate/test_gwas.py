"""Latent GWAS: exactness against statsmodels' MANOVA and mpmath, QC, lambda GC, torch, bad input,
merging and lead variants (regwas.gwas, regwas.gwas_kernel, regwas.clump)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import mpmath
import numpy as np
import pandas as pd
import pytest

from regwas.associate import gwas
from regwas.associate.gwas.pvalues import log_betainc
from regwas.associate.gwas.qc import hwe_exact_p
from regwas.config import section
from regwas.errors import InputError
from regwas.genetics import lambda_gc
from regwas.io.embeddings import read_embeddings, write_embeddings
from regwas.io.sumstats import SUMSTATS_COLUMNS, read_sumstats


def write_bed(
    prefix: Path,
    G: np.ndarray,
    sample_ids: list[str],
    chrom: str | list[str] = "1",
    positions: np.ndarray | None = None,
    variant_ids: list[str] | None = None,
    sex: np.ndarray | None = None,
) -> None:
    """Write ALT counts (variants x samples, -9 missing) as a PLINK 1 file set (A1 = ALT = 'A');
    ``sex``: .fam sex codes (1 male, 2 female, 0 unknown; default unknown)."""
    from bed_reader import to_bed

    m, n = G.shape
    val = G.T.astype(np.float32)
    val[val < 0] = np.nan
    chroms = [chrom] * m if isinstance(chrom, str) else list(chrom)
    positions = np.arange(1, m + 1) * 1000 if positions is None else positions
    variant_ids = variant_ids or [f"v{i}" for i in range(m)]
    props = {
        "fid": list(sample_ids),
        "iid": list(sample_ids),
        "sid": variant_ids,
        "chromosome": chroms,
        "bp_position": [int(p) for p in positions],
        "allele_1": ["A"] * m,
        "allele_2": ["G"] * m,
    }
    if sex is not None:
        props["sex"] = [int(v) for v in sex]
    to_bed(f"{prefix}.bed", val, properties=props, count_A1=True)


def simulate_genotypes(
    rng: np.random.Generator, freqs: np.ndarray, n: int, missing_rate: np.ndarray | float = 0.0
) -> np.ndarray:
    """Binomial(2, f) ALT counts per variant (int8), with calls set missing at random."""
    freqs = np.asarray(freqs, dtype=float)
    G = rng.binomial(2, freqs[:, None], size=(len(freqs), n)).astype(np.int8)
    miss = rng.random(G.shape) < np.broadcast_to(
        np.asarray(missing_rate)[..., None] if np.ndim(missing_rate) else missing_rate, G.shape
    )
    G[miss] = -9
    return G


def impute(G: np.ndarray) -> np.ndarray:
    """Mean-impute missing (-9) calls per variant (float64)."""
    g = G.astype(np.float64)
    miss = G < 0
    g[miss] = np.nan
    mean = np.nanmean(g, axis=1)
    return np.where(miss, mean[:, None], g)


def covariate_table(rng: np.random.Generator, ids: list[str]) -> pd.DataFrame:
    """age, a 3-level categorical site, sex_male and two PCs."""
    n = len(ids)
    return pd.DataFrame(
        {
            "sample_id": ids,
            "age": rng.normal(55, 8, n).round(1),
            "site": rng.choice(["leeds", "oxford", "york"], n),
            "sex_male": rng.integers(0, 2, n),
            "PC1": rng.normal(size=n),
            "PC2": rng.normal(size=n),
        }
    )


# ----------------------------------------------------------------------------- fixtures

N = 300
D = 3
FREQS = np.array([0.015, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.4, 0.25, 0.015, 0.08, 0.45])
MISSING = np.array([0, 0.05, 0, 0.03, 0, 0.04, 0, 0, 0.02, 0.05, 0, 0])
LOOSE_QC = {
    "min_maf": 0.001,
    "min_mac": 1,
    "min_call_rate": 0.9,
    "hwe_p": 0.0,
}
COLS = ["age", "site", "PC1", "PC2"]  # the covariate columns of these tests


def shard(*args, **kwargs):
    """gwas_chromosome with these tests' covariate columns (the config's set has more)."""
    kwargs.setdefault("covariate_columns", COLS)
    return gwas.gwas_chromosome(*args, **kwargs)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """300 samples, 3 latent dims with site/age effects and 3 causal variants; 12 variants."""
    rng = np.random.default_rng(11)
    tmp = tmp_path_factory.mktemp("gwas_small")
    ids = [f"s{i:04d}" for i in range(N)]
    G = simulate_genotypes(rng, FREQS, N, MISSING)
    cov = covariate_table(rng, ids)
    site = pd.get_dummies(cov["site"]).to_numpy(float)
    Y = rng.normal(size=(N, D)) + 0.05 * cov[["age"]].to_numpy() + site @ rng.normal(size=(3, D))
    Y += 0.4 * cov[["PC1"]].to_numpy()
    g = impute(G)
    Y[:, 0] += 0.8 * g[3]
    Y[:, 1] -= 0.6 * g[5]
    Y[:, 2] += 1.5 * g[9]
    write_bed(tmp / "geno", G, ids)
    write_embeddings(ids, Y, tmp / "emb.parquet")
    return {
        "dir": tmp,
        "ids": ids,
        "G": G,
        "cov": cov,
        "prefix": str(tmp / "geno"),
        "emb": tmp / "emb.parquet",
    }


def _run(small, model: str, backend: str = "numpy", **extra) -> pd.DataFrame:
    cfg = {**LOOSE_QC, "model": model, "backend": backend, **extra}
    out = small["dir"] / f"out_{model}_{backend}.parquet"
    shard(small["emb"], small["prefix"], out, cfg, small["cov"])
    return pd.read_parquet(out)


def _statsmodels_pillai(Y: np.ndarray, X_cov: pd.DataFrame, terms: np.ndarray):
    """Pillai row of the genotype term(s) from statsmodels' MANOVA (the reference)."""
    from statsmodels.multivariate.manova import MANOVA

    exog = np.column_stack([X_cov.to_numpy(float), terms])
    k = X_cov.shape[1]
    L = np.zeros((terms.shape[1], exog.shape[1]))
    L[np.arange(terms.shape[1]), k + np.arange(terms.shape[1])] = 1.0
    res = MANOVA(Y, exog).mv_test(hypotheses=[("geno", L)])
    return res.results["geno"]["stat"].loc["Pillai's trace"]


def _design(cov: pd.DataFrame) -> pd.DataFrame:
    X = pd.get_dummies(cov[["age", "site", "PC1", "PC2"]], columns=["site"], drop_first=True)
    X.insert(0, "const", 1.0)
    return X.astype(float)


# ----------------------------------------------------------------------------- exactness


def test_additive_equals_statsmodels_manova(small):
    """1 df: p, Pillai, F and df equal statsmodels' MANOVA (covariates incl. a categorical site,
    rare variants, missing calls mean-imputed) to 1e-8 relative."""
    from regwas.io.embeddings import read_embeddings

    res = _run(small, "additive")
    assert list(res.columns) == SUMSTATS_COLUMNS
    assert len(res) == len(FREQS)
    _, Y, _ = read_embeddings(small["emb"])
    X = _design(small["cov"])
    g = impute(small["G"])
    for _, row in res.iterrows():
        j = int(row["variant_id"][1:])
        ref = _statsmodels_pillai(Y, X, g[j][:, None])
        assert row["pillai"] == pytest.approx(ref["Value"], rel=1e-8)
        assert row["f_stat"] == pytest.approx(ref["F Value"], rel=1e-8)
        assert (row["df1"], row["df2"]) == (ref["Num DF"], ref["Den DF"])
        assert row["p_value"] == pytest.approx(ref["Pr > F"], rel=1e-8)
        assert row["n"] == int((small["G"][j] >= 0).sum())
    # the planted variants are detected
    strong = set(res.loc[res["p_value"] < 1e-4, "variant_id"])
    assert {"v3", "v5"} <= strong


def test_genotypic_equals_statsmodels_manova(small):
    """2 df (het and alt-hom dummies, imputed by class frequency): statsmodels' Pillai F and df;
    variants with an empty genotype class are written with empty statistics and a note naming
    the genotype counts."""
    from regwas.io.embeddings import read_embeddings

    res = _run(small, "genotypic")
    _, Y, _ = read_embeddings(small["emb"])
    X = _design(small["cov"])
    G = small["G"]
    empty = {f"v{j}" for j in range(len(FREQS)) if min((G[j] == c).sum() for c in (0, 1, 2)) == 0}
    assert empty, "the fixture should contain a variant with no alt homozygotes"
    assert set(res["variant_id"]) == {f"v{j}" for j in range(len(FREQS))}
    untested = res[res["p_value"].isna()]
    assert set(untested["variant_id"]) == empty
    assert untested[["pillai", "f_stat", "neg_log10_p"]].isna().all().all()
    for _, row in untested.iterrows():
        j = int(row["variant_id"][1:])
        c0, c1, c2 = ((G[j] == c).sum() for c in (0, 1, 2))
        assert row["note"] == (
            "untestable: empty genotype class for the 2-df test "
            f"(REF hom {c0}, het {c1}, ALT hom {c2} called)"
        )
    res = res[res["p_value"].notna()]
    assert (res["note"] == "").all()
    for _, row in res.iterrows():
        j = int(row["variant_id"][1:])
        called = G[j] >= 0
        dummies = []
        for c in (1, 2):
            x = (G[j] == c).astype(float)
            x[~called] = x[called].mean()
            dummies.append(x)
        ref = _statsmodels_pillai(Y, X, np.column_stack(dummies))
        assert row["pillai"] == pytest.approx(ref["Value"], rel=1e-8)
        assert row["f_stat"] == pytest.approx(ref["F Value"], rel=1e-8)
        assert (row["df1"], row["df2"]) == (ref["Num DF"], ref["Den DF"])
        assert row["p_value"] == pytest.approx(ref["Pr > F"], rel=1e-8)


def test_genotypic_d1_is_the_two_df_f_test(tmp_path):
    """With d = 1 (s = 1) the genotypic Pillai F is the ordinary 2-df partial F test (OLS)."""
    import statsmodels.api as sm

    rng = np.random.default_rng(5)
    n = 200
    ids = [f"s{i}" for i in range(n)]
    G = simulate_genotypes(rng, np.array([0.3, 0.4]), n)
    y = rng.normal(size=(n, 1)) + 0.4 * (G[0] == 1)[:, None]
    write_bed(tmp_path / "g", G, ids)
    write_embeddings(ids, y, tmp_path / "e.parquet")
    shard(
        tmp_path / "e.parquet",
        tmp_path / "g",
        tmp_path / "o.parquet",
        {**LOOSE_QC, "model": "genotypic"},
    )
    res = pd.read_parquet(tmp_path / "o.parquet")
    yy = pd.read_parquet(tmp_path / "e.parquet")["z000"].to_numpy(float)
    for j, row in res.iterrows():
        X = sm.add_constant(np.column_stack([(G[j] == 1), (G[j] == 2)]).astype(float))
        ols = sm.OLS(yy, X).fit()
        ftest = ols.f_test(np.eye(3)[1:])
        assert row["f_stat"] == pytest.approx(float(ftest.fvalue), rel=1e-8)
        assert row["p_value"] == pytest.approx(float(ftest.pvalue), rel=1e-8)
        assert (row["df1"], row["df2"]) == (2, n - 3)


def test_log_betainc_matches_mpmath():
    """log I_x(a, b) equals mpmath (50 digits) from moderate p down to 1e-6000."""
    mpmath.mp.dps = 50
    cases = [
        (4990, 128, 0.8),
        (4990, 128, 0.86),
        (500, 2, 0.1),
        (50, 1, 0.5),
        (5, 3, 0.2),
        (4996, 2, 0.3),
        (99.5, 1, 1e-5),
        (150, 0.5, 0.999),
        (2000, 16, 0.99),
    ]
    a, b, x = (np.array(v, dtype=float) for v in zip(*cases, strict=True))
    got = log_betainc(a, b, x)
    for (ai, bi, xi), gi in zip(cases, got, strict=True):
        ref = float(mpmath.log(mpmath.betainc(ai, bi, 0, xi, regularized=True)))
        assert gi == pytest.approx(ref, rel=1e-12, abs=1e-14)


def test_tiny_p_is_finite_and_exact(tmp_path):
    """A strong effect gives neg_log10_p > 300, finite, equal to an mpmath evaluation of the
    exact F tail from an independently computed R^2 (least squares)."""
    rng = np.random.default_rng(3)
    n, d = 3000, 2
    ids = [f"s{i}" for i in range(n)]
    G = simulate_genotypes(rng, np.array([0.3, 0.2]), n)
    Y = rng.normal(size=(n, d))
    Y[:, 0] += 1.5 * G[0]
    write_bed(tmp_path / "g", G, ids)
    write_embeddings(ids, Y, tmp_path / "e.parquet")
    shard(tmp_path / "e.parquet", tmp_path / "g", tmp_path / "o.parquet", LOOSE_QC)
    res = pd.read_parquet(tmp_path / "o.parquet").set_index("variant_id")
    Yf = pd.read_parquet(tmp_path / "e.parquet")[["z000", "z001"]].to_numpy(float)
    X = np.column_stack([np.ones(n), Yf])
    g = G[0].astype(float)
    resid = g - X @ np.linalg.lstsq(X, g, rcond=None)[0]
    one_minus_r2 = (resid @ resid) / ((g - g.mean()) @ (g - g.mean()))
    mpmath.mp.dps = 60
    df1, df2 = d, n - 1 - d
    ref = -float(mpmath.log10(mpmath.betainc(df2 / 2, df1 / 2, 0, one_minus_r2, regularized=True)))
    got = res.loc["v0", "neg_log10_p"]
    assert ref > 300 and np.isfinite(got)
    assert got == pytest.approx(ref, rel=1e-8)
    assert res.loc["v0", "p_value"] == 0.0 or res.loc["v0", "p_value"] < 1e-300


# ----------------------------------------------------------------------------- QC, lambda, torch


def _hwe_reference(het: int, hom1: int, hom2: int) -> float:
    """Direct enumeration of the HWE exact test (Wigginton 2005), one variant."""
    n = het + hom1 + hom2
    rare_hom = min(hom1, hom2)
    n_rare = 2 * rare_hom + het

    def logprob(h: int) -> float:
        hr = (n_rare - h) // 2
        hc = n - h - hr
        return (
            math.lgamma(n + 1)
            + h * math.log(2)
            + math.lgamma(n_rare + 1)
            + math.lgamma(2 * n - n_rare + 1)
            - math.lgamma(2 * n + 1)
            - math.lgamma(hr + 1)
            - math.lgamma(h + 1)
            - math.lgamma(hc + 1)
        )

    hs = [h for h in range(n_rare % 2, n_rare + 1, 2) if n - h - (n_rare - h) // 2 >= 0]
    lp = np.array([logprob(h) for h in hs])
    top = lp.max()
    prob = np.exp(lp - top)
    obs = math.exp(logprob(het) - top)
    return float(prob[prob <= obs * (1 + 1e-7)].sum() / prob.sum())


def test_hwe_exact_matches_enumeration():
    """The vectorised HWE exact test equals direct enumeration (relative 1e-9)."""
    rng = np.random.default_rng(2)
    cases = [
        (50, 25, 25),
        (10, 980, 10),
        (5, 995, 0),
        (200, 300, 500),
        (1, 9998, 1),
        (3000, 2000, 5000),
        (400, 0, 0),
        (0, 200, 200),
    ]
    for _ in range(40):
        n = int(rng.integers(5, 3000))
        g = rng.binomial(2, rng.uniform(0.001, 0.5), n)
        cases.append((int((g == 1).sum()), int((g == 0).sum()), int((g == 2).sum())))
    het, h1, h2 = (np.array(v) for v in zip(*cases, strict=True))
    got = hwe_exact_p(het, h1, h2)
    ref = np.array([_hwe_reference(*c) for c in cases])
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-300)


def test_qc_filters(tmp_path):
    """Each filter removes its variant, and only it; removed variants are counted, not written."""
    rng = np.random.default_rng(8)
    n = 400
    ids = [f"s{i}" for i in range(n)]
    good = simulate_genotypes(rng, np.array([0.3, 0.2, 0.45]), n)
    call = simulate_genotypes(rng, np.array([0.3]), n, 0.1)  # call rate ~0.90
    rare = np.zeros((1, n), np.int8)
    rare[0, :3] = 1  # MAF 0.00375 (also MAC 3)
    mac = np.zeros((1, n), np.int8)
    mac[0, :16] = 1  # MAF 0.02 >= 0.01 but MAC 16 < 20
    hwe = np.ones((1, n), np.int8)  # 390 heterozygous of 400: HWE p ~ 1e-100
    hwe[0, :5] = 0
    hwe[0, 5:10] = 2
    mono = np.full((1, n), 2, np.int8)
    G = np.vstack([good, call, rare, mac, hwe, mono])
    names = ["good0", "good1", "good2", "call", "rare", "mac", "hwe", "mono"]
    write_bed(tmp_path / "g", G, ids, variant_ids=names)
    write_embeddings(ids, rng.normal(size=(n, 4)), tmp_path / "e.parquet")
    counts = shard(tmp_path / "e.parquet", tmp_path / "g", tmp_path / "o.parquet", {})
    res = pd.read_parquet(tmp_path / "o.parquet")
    assert list(res["variant_id"]) == ["good0", "good1", "good2"]
    assert counts["fail_call_rate"] == 1
    assert counts["fail_maf"] == 1
    assert counts["fail_mac"] == 1  # 'rare' fails MAF first and is counted there only
    assert counts["fail_hwe"] == 1
    assert counts["fail_monomorphic"] == 1
    assert counts["n_tested"] == 3 and counts["n_variants_in"] == 8
    fails = sum(v for k, v in counts.items() if k.startswith("fail_"))
    assert fails + counts["n_tested"] + counts["n_untestable"] == 8
    # effect allele = ALT (A1) and its frequency among called samples
    assert (res["effect_allele"] == "A").all() and (res["other_allele"] == "G").all()
    np.testing.assert_allclose(res["effect_allele_frequency"], good.mean(axis=1) / 2)
    # with every filter off, all but the monomorphic variant are tested
    off = {"min_maf": 0, "min_mac": 0, "min_call_rate": 0, "hwe_p": 0}
    counts = shard(tmp_path / "e.parquet", tmp_path / "g", tmp_path / "o2.parquet", off)
    assert counts["n_tested"] == 7


def test_lambda_gc_null_and_reference():
    """lambda_gc equals median chi2_1 quantile / 0.4549 (scipy), and survives p < 1e-308."""
    from scipy import stats

    rng = np.random.default_rng(4)
    p = rng.uniform(size=5001)
    nlp = -np.log10(p)
    ref = np.median(stats.chi2.isf(p, 1)) / stats.chi2.ppf(0.5, 1)
    assert lambda_gc(nlp) == pytest.approx(ref, rel=1e-9)
    assert np.isfinite(lambda_gc(np.r_[nlp, [400.0, 1000.0]]))


def test_lambda_gc_near_one_on_null_data(tmp_path):
    """Null latents and random genotypes: lambda GC within 0.9-1.1, for both models."""
    rng = np.random.default_rng(6)
    n = 800
    ids = [f"s{i}" for i in range(n)]
    G = simulate_genotypes(rng, rng.uniform(0.05, 0.5, 3000), n)
    write_bed(tmp_path / "g", G, ids)
    write_embeddings(ids, rng.normal(size=(n, 8)), tmp_path / "e.parquet")
    for model in ("additive", "genotypic"):
        out = tmp_path / f"{model}.parquet"
        shard(tmp_path / "e.parquet", tmp_path / "g", out, {"model": model})
        summary = gwas.merge_shards([out], tmp_path / f"{model}.tsv.gz", {})
        assert 0.9 <= summary["lambda_gc"] <= 1.1, (model, summary)
        assert summary["n_significant"] == 0


@pytest.mark.parametrize("model", ["additive", "genotypic"])
def test_torch_backend_equals_numpy(small, model):
    """The torch backend (CPU here; CUDA when present) equals numpy within 1e-6 in log10 p."""
    pytest.importorskip("torch")
    a = _run(small, model, "numpy")
    b = _run(small, model, "torch")
    assert list(a["variant_id"]) == list(b["variant_id"])
    np.testing.assert_allclose(a["neg_log10_p"], b["neg_log10_p"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(a["pillai"], b["pillai"], rtol=1e-9)


def test_backend_choice_is_logged(caplog, monkeypatch):
    """make_backend names the backend and device it chose in the log; auto without a CUDA
    device (or without torch) falls back to numpy and says why."""
    from regwas.associate.gwas.kernel import make_backend

    basis = np.eye(3)
    with caplog.at_level(logging.INFO, logger="regwas.associate.gwas.kernel"):
        assert make_backend("numpy", basis).name == "numpy"
    assert "GWAS backend numpy" in caplog.text
    torch = pytest.importorskip("torch")
    caplog.clear()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="regwas.associate.gwas.kernel"):
        assert make_backend("auto", basis).name == "numpy"
        assert make_backend("torch", basis).name == "torch:cpu"
    assert "gwas.backend auto: no CUDA device, using numpy" in caplog.text
    assert "GWAS backend torch:cpu" in caplog.text


# ----------------------------------------------------------------------------- bad input


def test_ids_missing_from_fam(small, tmp_path):
    """Embedding ids absent from the .fam: InputError with counts/examples; intersect analyses
    the common samples and reports their number."""
    rng = np.random.default_rng(1)
    ids = [*small["ids"], "ghost1", "ghost2"]
    write_embeddings(ids, rng.normal(size=(len(ids), 2)), tmp_path / "e.parquet")
    with pytest.raises(InputError, match=r"2 of 302 embedding sample ids are not in .*ghost1"):
        shard(
            tmp_path / "e.parquet", small["prefix"], tmp_path / "o.parquet", LOOSE_QC, small["cov"]
        )
    assert not (tmp_path / "o.parquet").exists()
    counts = shard(
        tmp_path / "e.parquet",
        small["prefix"],
        tmp_path / "o.parquet",
        {**LOOSE_QC, "intersect_samples": True},
        small["cov"],
    )
    assert counts["n_samples"] == N


def test_nan_rows_named(small, tmp_path):
    """NaN embeddings: InputError naming the sample ids."""
    z = np.random.default_rng(0).normal(size=(N, 2))
    z[7, 1] = np.nan
    write_embeddings(small["ids"], z, tmp_path / "e.parquet")
    with pytest.raises(InputError, match="s0007"):
        shard(tmp_path / "e.parquet", small["prefix"], tmp_path / "o.parquet", LOOSE_QC)


def test_constant_dimension_dropped(small, tmp_path, caplog):
    """A constant embedding dimension is dropped with a warning (df1 = d - 1)."""
    z = np.random.default_rng(0).normal(size=(N, 3))
    z[:, 1] = 4.0
    write_embeddings(small["ids"], z, tmp_path / "e.parquet")
    with caplog.at_level(logging.WARNING):
        shard(tmp_path / "e.parquet", small["prefix"], tmp_path / "o.parquet", LOOSE_QC)
    assert "constant embedding dimension" in caplog.text and "z001" in caplog.text
    assert (pd.read_parquet(tmp_path / "o.parquet")["df1"] == 2).all()


def test_missing_covariate_value_named(small, tmp_path):
    """A missing covariate value raises InputError naming the column and sample."""
    cov = small["cov"].copy()
    cov.loc[4, "age"] = np.nan
    with pytest.raises(InputError, match=r"'age'.*s0004"):
        shard(small["emb"], small["prefix"], tmp_path / "o.parquet", LOOSE_QC, cov)


def test_missing_chromosome_file_named(small, tmp_path, capsys):
    """A {chrom} pattern with a missing file set: the CLI exits 2 naming the missing file."""
    from regwas.cli import main

    for c in ("1", "2"):
        for ext in ("bed", "bim", "fam"):
            (tmp_path / f"chr{c}.{ext}").write_bytes(Path(f"{small['prefix']}.{ext}").read_bytes())
    (tmp_path / "chr2.bed").unlink()
    rc = main(
        [
            "gwas",
            "--embeddings",
            str(small["emb"]),
            "--bfile",
            str(tmp_path / "chr{chrom}"),
            "--chromosomes",
            "1-2",
            "--out",
            str(tmp_path / "o.tsv.gz"),
        ]
    )
    assert rc == 2
    assert "chr2.bed" in capsys.readouterr().err
    assert not (tmp_path / "o.tsv.gz").exists()
    with pytest.raises(InputError, match="chr2.bed"):
        shard(small["emb"], tmp_path / "chr2", tmp_path / "o.parquet", LOOSE_QC)


def test_bad_config_key(tmp_path):
    """Unknown keys and bad values in the gwas config section are named (by the schema)."""
    out = tmp_path / "o.tsv.gz"
    with pytest.raises(InputError, match=r"unknown key 'gwas\.min_maff'"):
        gwas.merge_shards([], out, {"min_maff": 0.1})
    with pytest.raises(InputError, match=r"gwas\.model"):
        gwas.merge_shards([], out, {"model": "dominant"})
    with pytest.raises(InputError, match=r"gwas\.clump\.r2"):
        gwas.merge_shards([], out, {"clump": {"r2": 1.5}})
    assert not out.exists()
    assert section("gwas", {"clump": {"r2": 0.2}})["clump"]["window_kb"] == 500


# ----------------------------------------------------------------------------- merge and leads


@pytest.fixture(scope="module")
def loci(tmp_path_factory):
    """Two chromosomes; three causal loci: A and B move the latent along e0, C along e1.

    Each locus has a lead and a correlated neighbour 10 kb away (r^2 ~0.8) and an independent
    variant 20 kb away."""
    rng = np.random.default_rng(21)
    tmp = tmp_path_factory.mktemp("gwas_loci")
    n, d = 1500, 4
    ids = [f"s{i}" for i in range(n)]
    shards = []
    Y = rng.normal(size=(n, d))
    effects = {("1", 0): np.eye(d)[0], ("1", 1): np.eye(d)[1], ("2", 0): np.eye(d)[0]}
    for chrom in ("1", "2"):
        m = 200
        G = simulate_genotypes(rng, rng.uniform(0.1, 0.5, m), n)
        pos = np.arange(m) * 5000 + 100_000
        for locus, causal in enumerate((50, 150)):
            if (chrom, locus) not in effects:
                continue
            G[causal] = rng.binomial(2, 0.35, n)
            neighbour = G[causal].copy()
            flip = rng.random(n) < 0.05
            neighbour[flip] = rng.binomial(2, 0.35, flip.sum())
            G[causal + 2] = neighbour
            Y += 0.45 * np.outer(G[causal], effects[(chrom, locus)])
        write_bed(
            tmp / f"chr{chrom}",
            G,
            ids,
            chrom=chrom,
            positions=pos,
            variant_ids=[f"c{chrom}_{i}" for i in range(m)],
        )
    write_embeddings(ids, Y, tmp / "emb.parquet")
    for chrom in ("2", "1"):
        out = tmp / f"shard{chrom}.parquet"
        shard(tmp / "emb.parquet", tmp / f"chr{chrom}", out, {})
        shards.append(out)
    summary = gwas.merge_shards(shards, tmp / "gwas.tsv.gz", {})
    return {
        "dir": tmp,
        "summary": summary,
        "ids": ids,
        "Y": Y,
        "gwas": read_sumstats(tmp / "gwas.tsv.gz"),
    }


def test_merge_sorted(loci):
    """Merged output is sorted by chromosome then position and counts significant variants."""
    g = loci["gwas"]
    assert list(g.columns) == SUMSTATS_COLUMNS
    assert list(g["chromosome"].unique()) == ["1", "2"]
    assert (
        g.groupby("chromosome")["base_pair_location"]
        .apply(lambda s: s.is_monotonic_increasing)
        .all()
    )
    assert loci["summary"]["n_significant"] == int((g["p_value"] < 5e-8).sum()) > 0
    assert loci["summary"]["n_variants"] == len(g)


@pytest.mark.parametrize("method", ["distance", "ld", "both"])
def test_lead_variants(loci, method):
    """Three planted loci give three leads at the causal variants (distance), LD clumping keeps
    only LD-independent signals; directions equal a pandas group-by reference; A and B (same
    latent direction) share a cluster, C does not; the linkage matrix is written."""
    tmp = loci["dir"]
    cfg = {"clump": {"method": method, "window_kb": 100, "r2": 0.1}}
    leads = gwas.lead_variants(
        loci["gwas"],
        cfg,
        str(tmp / "chr{chrom}"),
        tmp / "emb.parquet",
        tmp / f"leads_{method}.tsv",
        tmp / f"linkage_{method}.tsv",
    )
    assert set(leads["variant_id"]) >= {"c1_50", "c1_150", "c2_50"}
    if method == "distance":
        assert len(leads) == 3
        assert leads["ld_clump_size"].isna().all()
    else:
        assert (leads["ld_clump_size"] >= 1).all()
        lead_set = set(leads["variant_id"])
        assert not {"c1_52", "c1_152", "c2_52"} & lead_set  # r^2 ~0.8 neighbours are clumped
    if method != "both":
        assert leads["locus"].tolist() == list(range(1, len(leads) + 1))
    written = pd.read_csv(tmp / f"leads_{method}.tsv", sep="\t")
    assert len(written) == len(leads)
    link = pd.read_csv(tmp / f"linkage_{method}.tsv", sep="\t")
    assert len(link) == len(leads) - 1
    # directions against an independent group-by of the embeddings by genotype
    from regwas.io.plink import BedReader

    with BedReader(tmp / "chr1") as r:
        g = r.read(50, 51)[0]
    means = pd.DataFrame(loci["Y"].astype(np.float32).astype(float)).groupby(g).mean()
    row = leads.set_index("variant_id").loc["c1_50"]
    np.testing.assert_allclose(
        json.loads(row["direction_het"]), means.loc[1] - means.loc[0], atol=1e-6
    )
    np.testing.assert_allclose(
        json.loads(row["direction_hom"]), means.loc[2] - means.loc[0], atol=1e-6
    )
    cl = leads.set_index("variant_id")["cluster"]
    assert cl["c1_50"] == cl["c2_50"] != cl["c1_150"]


def test_sample_order_does_not_matter(small, tmp_path):
    """Embeddings (and covariates) in another order than the .fam give identical results:
    samples are aligned by id."""
    from regwas.io.embeddings import read_embeddings

    ids, z, _ = read_embeddings(small["emb"])
    perm = np.random.default_rng(9).permutation(len(ids))
    write_embeddings(ids[perm], z[perm], tmp_path / "e.parquet")
    cov = small["cov"].iloc[np.random.default_rng(10).permutation(len(ids))]
    cfg = {**LOOSE_QC, "model": "additive"}
    shard(tmp_path / "e.parquet", small["prefix"], tmp_path / "o.parquet", cfg, cov)
    a = pd.read_parquet(tmp_path / "o.parquet")
    b = _run(small, "additive")
    np.testing.assert_allclose(a["neg_log10_p"], b["neg_log10_p"], rtol=1e-10)


# ----------------------------------------------------------------------------- mixed precision


def test_mixed_precision_is_exact_where_it_matters(tmp_path):
    """precision: mixed screens in float32 and re-tests in float64 every variant at or above
    refine_above: those equal the float64 path; the rest differ by float32 rounding only."""
    rng = np.random.default_rng(5)
    n, d, m = 2000, 32, 300
    ids = [f"s{i:05d}" for i in range(n)]
    freqs = np.concatenate([rng.uniform(0.01, 0.03, 60), rng.uniform(0.05, 0.5, m - 60)])
    G = simulate_genotypes(rng, freqs, n, 0.01)
    cov = covariate_table(rng, ids)
    Y = rng.normal(size=(n, d)) + 0.5 * cov[["PC1"]].to_numpy()
    g = impute(G)
    for j, beta in zip((10, 100, 200, 250), (0.3, 0.12, 0.08, 0.05), strict=True):
        Y[:, j % d] += beta * (g[j] - g[j].mean()) / g[j].std()
    write_bed(tmp_path / "geno", G, ids)
    write_embeddings(ids, Y, tmp_path / "emb.parquet")
    out = {}
    for precision in ("float64", "mixed"):
        path = tmp_path / f"{precision}.parquet"
        cfg = {**LOOSE_QC, "precision": precision, "refine_above": 2.0}
        shard(tmp_path / "emb.parquet", tmp_path / "geno", path, cfg, cov)
        out[precision] = pd.read_parquet(path)
    exact, mixed = out["float64"], out["mixed"]
    assert list(exact["variant_id"]) == list(mixed["variant_id"])
    strong = exact["neg_log10_p"].to_numpy() >= 2.0 + 1e-3
    assert strong.sum() >= 3  # the planted variants are among them
    np.testing.assert_allclose(
        mixed.loc[strong, "neg_log10_p"], exact.loc[strong, "neg_log10_p"], rtol=1e-10
    )
    np.testing.assert_allclose(mixed.loc[strong, "pillai"], exact.loc[strong, "pillai"], rtol=1e-10)
    diff = np.abs(mixed["neg_log10_p"] - exact["neg_log10_p"]).to_numpy()
    assert diff.max() < 1e-3
    assert diff[~strong].max() > 0  # the screen really ran in float32 for the rest


def test_mixed_precision_needs_numpy_backend(small):
    pytest.importorskip("torch")
    with pytest.raises(InputError, match="precision"):
        _run(small, "additive", "torch", precision="mixed")


def test_clump_methods_differ_on_two_independent_signals_in_one_window(tmp_path):
    """Two unlinked causal variants 50 kb apart: distance clumping keeps one lead, LD clumping
    two leads in two loci, `both` the two LD leads grouped into one locus."""
    rng = np.random.default_rng(5)
    n, m = 1500, 60
    ids = [f"s{i}" for i in range(n)]
    G = simulate_genotypes(rng, rng.uniform(0.2, 0.5, m), n)
    Y = rng.normal(size=(n, 3))
    Y += 0.5 * np.outer(G[20], [1, 0, 0]) + 0.5 * np.outer(G[30], [0, 1, 0])
    positions = np.arange(m) * 5000 + 100_000
    write_bed(
        tmp_path / "chr1",
        G,
        ids,
        chrom="1",
        positions=positions,
        variant_ids=[f"v{i}" for i in range(m)],
    )
    write_embeddings(ids, Y, tmp_path / "e.parquet")
    shard(tmp_path / "e.parquet", tmp_path / "chr1", tmp_path / "s.parquet", {})
    gwas.merge_shards([tmp_path / "s.parquet"], tmp_path / "g.tsv.gz", {})
    table = read_sumstats(tmp_path / "g.tsv.gz")
    loci = {}
    for method in ("distance", "ld", "both"):
        cfg = {"clump": {"method": method, "window_kb": 100, "r2": 0.1}}
        leads = gwas.lead_variants(
            table,
            cfg,
            str(tmp_path / "chr{chrom}"),
            tmp_path / "e.parquet",
            tmp_path / f"{method}.tsv",
        )
        loci[method] = dict(zip(leads["variant_id"], leads["locus"], strict=True))
    assert loci["distance"] == {"v30": 1} or loci["distance"] == {"v20": 1}
    assert loci["ld"] == {"v30": 1, "v20": 2} or loci["ld"] == {"v20": 1, "v30": 2}
    assert set(loci["both"]) == set(loci["ld"]) and set(loci["both"].values()) == {1}


def test_cli_without_covariates_warns_and_cols_need_a_table(small, tmp_path, capsys, caplog):
    """No --covariates: intercept-only, said in a warning; --covariate-cols alone: exit 2."""
    import logging

    from regwas.cli import main

    args = ["gwas", "--embeddings", str(small["emb"]), "--bfile", small["prefix"]]
    args += ["--out", str(tmp_path / "o.tsv.gz")]
    assert main([*args, "--covariate-cols", "age"]) == 2
    assert "give --covariates too" in capsys.readouterr().err
    assert not (tmp_path / "o.tsv.gz").exists()
    with caplog.at_level(logging.WARNING):
        assert main([*args, "--min-maf", "0", "--min-mac", "0", "--hwe-p", "0"]) == 0
    assert "no --covariates: intercept-only model" in caplog.text


def test_hwe_is_tested_within_ancestry_groups(tmp_path):
    """Two populations, every variant in HWE within each but with different frequencies:
    pooled HWE (Wahlund effect) drops the differentiated variants; within groups (a named
    column, or clusters of the genetic PCs) keeps them, and a variant out of HWE inside one
    group is still dropped. The group-wise p equals the exact test on that group's counts."""
    from regwas.associate.gwas import genotype_counts, hwe_exact_p

    rng = np.random.default_rng(8)
    n1 = n2 = 800
    ids = [f"s{i}" for i in range(n1 + n2)]
    f1 = np.r_[np.full(20, 0.05), np.full(20, 0.3)]
    f2 = np.r_[np.full(20, 0.6), np.full(20, 0.3)]  # first 20 differentiated, last 20 not
    G = np.hstack([simulate_genotypes(rng, f1, n1), simulate_genotypes(rng, f2, n2)])
    G[-1, :n1] = np.where(rng.random(n1) < 0.5, 0, 2)  # no heterozygotes in group 1
    write_bed(tmp_path / "chr1", G, ids, variant_ids=[f"v{i}" for i in range(len(G))])
    write_embeddings(ids, rng.normal(size=(n1 + n2, 3)), tmp_path / "e.parquet")
    pop = np.r_[np.zeros(n1), np.ones(n2)]
    cov = pd.DataFrame(
        {
            "sample_id": ids,
            "pop": np.where(pop == 0, "A", "B"),
            "PC1": pop * 10 + rng.normal(size=n1 + n2),
            "PC2": rng.normal(size=n1 + n2),
        }
    )
    tested = {}
    for how in ("none", "pop", "pcs"):
        cfg = {"hwe_groups": how, "hwe_pcs": 2, "hwe_p": 1e-6}
        counts = shard(
            tmp_path / "e.parquet",
            tmp_path / "chr1",
            tmp_path / f"{how}.parquet",
            cfg,
            cov,
            covariate_columns=["PC1"],
        )
        tested[how] = set(pd.read_parquet(tmp_path / f"{how}.parquet")["variant_id"])
        assert counts["fail_hwe"] == len(G) - len(tested[how]) - counts["fail_maf"]
    differentiated = {f"v{i}" for i in range(20)}
    assert not differentiated & tested["none"]  # pooled: all fail
    assert differentiated <= tested["pop"] and tested["pop"] == tested["pcs"]
    assert "v39" not in tested["pop"]  # out of HWE within group A
    c = genotype_counts(G[-1:, :n1])
    assert hwe_exact_p(c.c1, c.c0, c.c2)[0] < 1e-6


def test_leads_use_the_analysed_samples_and_blocked_ld(loci, tmp_path, monkeypatch):
    """Embedding ids missing from the .fam: clumping and directions use the analysed samples
    (with intersect_samples) instead of failing, or stop with a clear error without it; LD
    computed in blocks of 2 variants gives the same leads as in one block."""
    from regwas.associate.gwas import clump
    from regwas.io.embeddings import read_embeddings

    ids, z, _ = read_embeddings(loci["dir"] / "emb.parquet")
    write_embeddings([*ids, "stranger"], np.vstack([z, z[:1]]), tmp_path / "e.parquet")
    cfg = {"clump": {"method": "ld", "window_kb": 100, "r2": 0.1}}
    pattern = str(loci["dir"] / "chr{chrom}")
    with pytest.raises(InputError, match="1 of .* not in the .fam"):
        gwas.lead_variants(loci["gwas"], cfg, pattern, tmp_path / "e.parquet", tmp_path / "x.tsv")
    cfg["intersect_samples"] = True
    got = gwas.lead_variants(loci["gwas"], cfg, pattern, tmp_path / "e.parquet", tmp_path / "l.tsv")
    ref = gwas.lead_variants(
        loci["gwas"], cfg, pattern, loci["dir"] / "emb.parquet", tmp_path / "r.tsv"
    )
    pd.testing.assert_frame_equal(got, ref)
    monkeypatch.setattr(clump, "LD_BLOCK", 2)
    monkeypatch.setattr(clump.ld_clump, "__defaults__", (2,))
    small_blocks = gwas.lead_variants(
        loci["gwas"], cfg, pattern, loci["dir"] / "emb.parquet", tmp_path / "b.tsv"
    )
    pd.testing.assert_frame_equal(small_blocks, ref)


# ----------------------------------------------------------------------------- shards of several
# chromosomes (gwas.chromosomes_per_job) and the cohort's HWE groups found once (rule
# hwe_groups): both must give exactly what one job per chromosome, finding its own groups, gives

SHARD_COLS = ["age", "PC1", "PC2"]
# HWE within the PC clusters, as in the workflow (the costly set-up the shards share)
SHARD_CFG = {"hwe_groups": "pcs", "hwe_pcs": 2, "hwe_p": 1e-6, "min_mac": 5}
SHARD_SEED = 3


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Two populations (PC1 separates them), 3 latent dims with a causal variant on each of
    two chromosomes; chromosome 2's .fam lists the people in another order."""
    rng = np.random.default_rng(21)
    tmp = tmp_path_factory.mktemp("shards")
    n1, n2 = 250, 200
    n = n1 + n2
    ids = np.array([f"p{i:03d}" for i in range(n)])
    pop = np.r_[np.zeros(n1), np.ones(n2)]
    cov = pd.DataFrame(
        {
            "sample_id": ids,
            "age": rng.normal(55, 8, n).round(1),
            "PC1": 6 * pop + rng.normal(size=n),
            "PC2": rng.normal(size=n),
        }
    )
    genotypes = {}
    for chrom, m in (("1", 30), ("2", 25)):
        fa, fb = rng.uniform(0.05, 0.5, m), rng.uniform(0.05, 0.5, m)
        fa[:5], fb[:5] = 0.05, 0.7  # in HWE within each population, not pooled (Wahlund)
        G = np.hstack(
            [simulate_genotypes(rng, fa, n1, 0.01), simulate_genotypes(rng, fb, n2, 0.01)]
        )
        G[10, :n1] = np.where(rng.random(n1) < 0.5, 0, 2)  # out of HWE within population A
        genotypes[chrom] = G
    Y = rng.normal(size=(n, 3)) + 0.3 * cov[["PC1"]].to_numpy()
    Y[:, 0] += 0.7 * np.clip(genotypes["1"][4], 0, 2)
    Y[:, 2] -= 0.6 * np.clip(genotypes["2"][7], 0, 2)
    order = {"1": np.arange(n), "2": rng.permutation(n)}
    for chrom, G in genotypes.items():
        idx = order[chrom]
        write_bed(
            tmp / f"chr{chrom}",
            G[:, idx],
            list(ids[idx]),
            chrom=chrom,
            variant_ids=[f"{chrom}:{i}" for i in range(len(G))],
        )
    write_embeddings(list(ids), Y, tmp / "emb.parquet")
    return {"dir": tmp, "cov": cov, "ids": ids}


def run_shard(cohort, chroms, out, **kwargs):
    d = cohort["dir"]
    return gwas.gwas_shard(
        d / "emb.parquet",
        [d / f"chr{c}" for c in chroms],
        out,
        SHARD_CFG,
        cohort["cov"],
        seed=SHARD_SEED,
        covariate_columns=SHARD_COLS,
        **kwargs,
    )


def test_a_shard_of_two_chromosomes_writes_what_two_one_chromosome_jobs_write(cohort, tmp_path):
    """One job testing chromosomes 1 and 2 (one set-up; chromosome 2's .fam in another order
    gets its own) writes the rows of the two one-chromosome jobs, in order; the merged summary
    statistics are the same bytes and the per-chromosome counts the same."""
    both = run_shard(cohort, ["1", "2"], tmp_path / "chr1_2.parquet")
    one = [
        gwas.gwas_chromosome(
            cohort["dir"] / "emb.parquet",
            cohort["dir"] / f"chr{c}",
            tmp_path / f"chr{c}.parquet",
            SHARD_CFG,
            cohort["cov"],
            seed=SHARD_SEED,
            covariate_columns=SHARD_COLS,
        )
        for c in ("1", "2")
    ]
    for got, ref in zip(both, one, strict=True):
        assert {k: v for k, v in got.items() if k != "seconds"} == {
            k: v for k, v in ref.items() if k != "seconds"
        }
    assert sum(c["fail_hwe"] for c in one) > 0  # the HWE groups matter here
    assert min(c["n_tested"] for c in one) > 10
    ref = pd.concat([pd.read_parquet(tmp_path / f"chr{c}.parquet") for c in "12"])
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "chr1_2.parquet"), ref.reset_index(drop=True)
    )
    s1 = gwas.merge_shards([tmp_path / "chr1_2.parquet"], tmp_path / "a.tsv.gz", None)
    s2 = gwas.merge_shards(
        [tmp_path / "chr1.parquet", tmp_path / "chr2.parquet"], tmp_path / "b.tsv.gz", None
    )
    assert s1 == s2
    assert (tmp_path / "a.tsv.gz").read_bytes() == (tmp_path / "b.tsv.gz").read_bytes()


def test_the_cohort_hwe_groups_are_those_each_job_finds(cohort, tmp_path):
    """hwe_groups_table (once per cohort) labels every person as the per-job fit does; a job
    given them writes exactly what it writes when finding them itself, and does use them
    (all in one group gives pooled HWE). A job analysing a subset finds its own."""
    cov = cohort["cov"]
    table = gwas.hwe_groups_table(cov, SHARD_CFG, SHARD_SEED)
    cfg = section("gwas", SHARD_CFG)
    labels = gwas.hwe_group_labels(cov, cfg, SHARD_SEED)
    assert list(table["sample_id"]) == list(cov["sample_id"])
    np.testing.assert_array_equal(table["hwe_group"].to_numpy(), labels)
    assert len(np.unique(labels)) == 2
    # given the groups: the same rows as finding them
    run_shard(cohort, ["1"], tmp_path / "own.parquet")
    run_shard(cohort, ["1"], tmp_path / "given.parquet", hwe_groups=table)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "given.parquet"), pd.read_parquet(tmp_path / "own.parquet")
    )
    # and they are used: one group for all is pooled HWE
    pooled = dict(SHARD_CFG, hwe_groups="none")
    ref = gwas.gwas_chromosome(
        cohort["dir"] / "emb.parquet",
        cohort["dir"] / "chr1",
        tmp_path / "pooled.parquet",
        pooled,
        cov,
        seed=SHARD_SEED,
        covariate_columns=SHARD_COLS,
    )
    one = table.assign(hwe_group=0)
    got = run_shard(cohort, ["1"], tmp_path / "one.parquet", hwe_groups=one)[0]
    assert (
        got["fail_hwe"]
        == ref["fail_hwe"]
        > run_shard(cohort, ["1"], tmp_path / "x.pq")[0]["fail_hwe"]
    )
    # pooled for the cohort: an empty table
    assert len(gwas.hwe_groups_table(cov, pooled, SHARD_SEED)) == 0
    # a subset of the people (embeddings of 300): the groups are found for them
    keep = np.sort(np.random.default_rng(1).choice(len(cov), 300, replace=False))
    ids, z, _ = read_embeddings(cohort["dir"] / "emb.parquet")
    write_embeddings(list(ids[keep]), z[keep], tmp_path / "sub.parquet")
    fam = cohort["ids"]
    setup = gwas.prepare_analysis(
        tmp_path / "sub.parquet", fam, cfg, cov, seed=SHARD_SEED, columns=SHARD_COLS, hwe_groups=one
    )
    own = gwas.hwe_group_labels(cov.iloc[keep], cfg, SHARD_SEED)
    np.testing.assert_array_equal(setup[4], own)
    assert len(np.unique(own)) == 2  # not the all-zero table it was given


def test_untestable_rows_are_counted_apart_and_left_out_of_gwas_ssf(small, tmp_path):
    """The merge counts tested and untested variants apart; lambda GC and the GWAS-SSF
    export use the tested ones only."""
    from regwas.publish.gwas_ssf import to_gwas_ssf

    shard_path = tmp_path / "chr1.parquet"
    shard(
        small["emb"], small["prefix"], shard_path, {**LOOSE_QC, "model": "genotypic"}, small["cov"]
    )
    frame = pd.read_parquet(shard_path)
    n_untested = int(frame["p_value"].isna().sum())
    assert n_untested > 0
    summary = gwas.merge_shards([shard_path], tmp_path / "g.tsv.gz", {})
    assert summary["n_untested"] == n_untested
    assert summary["n_variants"] == len(frame) - n_untested
    assert summary["lambda_gc"] == pytest.approx(lambda_gc(frame["neg_log10_p"].dropna()))
    merged = read_sumstats(tmp_path / "g.tsv.gz")
    assert merged["p_value"].isna().sum() == n_untested
    assert merged.loc[merged["p_value"].isna(), "note"].str.startswith("untestable").all()
    ssf = to_gwas_ssf(merged)
    assert len(ssf) == len(frame) - n_untested


@pytest.mark.parametrize("method", ["distance", "ld"])
def test_leads_hold_one_chromosome_of_genotypes_at_a_time(loci, tmp_path, monkeypatch, method):
    """Memory of the lead step: LD clumping reads the significant variants of one chromosome
    per call (never all chromosomes at once); distance clumping reads the leads alone. The
    leads and their directions do not change (against the per-class means computed here)."""
    from regwas.associate.gwas import clump

    calls = []
    real = clump.read_variants

    def recording(pattern, chrom, variant_ids, sample_ids):
        calls.append((chrom, len(variant_ids)))
        return real(pattern, chrom, variant_ids, sample_ids)

    monkeypatch.setattr(clump, "read_variants", recording)
    cfg = {"clump": {"method": method, "window_kb": 100, "r2": 0.1}}
    pattern = str(loci["dir"] / "chr{chrom}")
    leads = gwas.lead_variants(
        loci["gwas"], cfg, pattern, loci["dir"] / "emb.parquet", tmp_path / "l.tsv"
    )
    g = loci["gwas"]
    sig = g[g["p_value"] < 5e-8]
    assert [c for c, _ in calls] == sorted({c for c, _ in calls}, key=[c for c, _ in calls].index)
    for chrom, n_rows in calls:
        if method == "ld":
            assert n_rows == int((sig["chromosome"] == chrom).sum())
        else:
            assert n_rows == int((leads["chromosome"] == chrom).sum())
    # directions against a direct computation from the .bed
    from regwas.io.genotypes import read_genotype_rows, read_variant_table

    for _, row in leads.iterrows():
        prefix = pattern.replace("{chrom}", row["chromosome"])
        index = read_variant_table(prefix)["variant_id"].tolist().index(row["variant_id"])
        G = read_genotype_rows(prefix, np.array([index]))[0]
        Y = loci["Y"]
        het = Y[G == 1].mean(axis=0) - Y[G == 0].mean(axis=0)
        np.testing.assert_allclose(json.loads(row["direction_het"]), het, atol=1e-6)


def test_near_duplicate_dimension_is_not_a_dimension(small, tmp_path, caplog):
    """A near-copy of a dimension (condition number ~1e7 once stored as float32) adds nothing
    but float32 rounding: the test is on the span of the others (df1 = d - 1) with p equal to
    statsmodels' MANOVA without the copy, and a warning names the dependent dimensions."""
    rng = np.random.default_rng(5)
    _, Y, _ = read_embeddings(small["emb"])
    dup = Y[:, 1] + 3e-8 * np.abs(Y[:, 1]).max() * rng.normal(size=N)
    Z = np.column_stack([Y, dup]).astype(np.float32)
    Zc = Z.astype(np.float64) - Z.mean(0)
    cond = np.linalg.cond(Zc / np.linalg.norm(Zc, axis=0))
    # the case of the issue: far past what float32 resolves, yet below a float64 tolerance (1e10)
    assert 1e6 < cond < 1e10
    write_embeddings(small["ids"], Z, tmp_path / "e.parquet")
    with caplog.at_level(logging.WARNING):
        shard(
            tmp_path / "e.parquet", small["prefix"], tmp_path / "o.parquet", LOOSE_QC, small["cov"]
        )
    assert "z001" in caplog.text and "z003" in caplog.text and "dependent" in caplog.text
    res = pd.read_parquet(tmp_path / "o.parquet")
    assert (res["df1"] == D).all()
    X = _design(small["cov"])
    g = impute(small["G"])
    for _, row in res.iterrows():
        ref = _statsmodels_pillai(Y, X, g[int(row["variant_id"][1:])][:, None])
        assert row["p_value"] == pytest.approx(ref["Pr > F"], rel=1e-6)


def test_rank_is_scale_aware():
    """Independent dimensions stay whatever their units (1e-6 next to 1e3), a dimension that
    the covariates explain to float32 rounding goes, as does an exact copy."""
    rng = np.random.default_rng(8)
    n = 400
    Y = rng.normal(size=(n, 4)) * np.array([1e3, 1.0, 1e-6, 1.0])
    assert gwas.prepare_basis(Y.astype(np.float32), None).d == 4
    C = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y[:, 3] = 5.0 * C[:, 1] + 1e-9 * rng.normal(size=n)
    assert gwas.prepare_basis(Y.astype(np.float32), C).d == 3
    Y[:, 3] = Y[:, 0]
    assert gwas.prepare_basis(Y.astype(np.float32), None).d == 3

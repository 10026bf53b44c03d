"""Chromosome X (non-PAR) in the latent GWAS against plink2 2.00a3.5 on the same files: --glm's
default X model (--xchr-model 2: males coded 0/2, sex added as a covariate, samples of unknown sex
left out), --freq (males counted once), --hardy on the women (HWE among women, as plink 1.9) and
--set-hh-missing (heterozygous male calls missing)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from test_gwas import covariate_table, write_bed

from regwas.associate import gwas
from regwas.associate.gwas.qc import (
    genotype_counts,
    hwe_exact_p,
    set_male_het_missing,
    x_genotype_counts,
)
from regwas.associate.gwas.shards import female_hwe_groups, x_file_set
from regwas.errors import InputError
from regwas.io.embeddings import write_embeddings
from regwas.io.plink import BedReader

PLINK2 = shutil.which("plink2")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (make system)")
OPEN_QC = {"min_maf": 0, "min_mac": 0, "hwe_p": 0, "min_call_rate": 0}


def _plink2(*args: str) -> None:
    subprocess.run(
        [PLINK2, "--threads", "1", "--memory", "1000", *args],
        check=True,
        capture_output=True,
        text=True,
    )


def x_genotypes(rng, freqs, male: np.ndarray) -> np.ndarray:
    """ALT counts on X (variants x samples): women Binomial(2, f), men 2 x Binomial(1, f)."""
    G = np.empty((len(freqs), len(male)), dtype=np.int8)
    G[:, ~male] = rng.binomial(2, np.asarray(freqs)[:, None], (len(freqs), (~male).sum()))
    G[:, male] = 2 * rng.binomial(1, np.asarray(freqs)[:, None], (len(freqs), male.sum()))
    return G


def _cohort(tmp_path, rng, n=500, m=30, unknown_sex=0):
    ids = [f"s{i}" for i in range(n)]
    cov = covariate_table(rng, ids)
    male = cov["sex_male"].to_numpy().astype(bool)
    G = x_genotypes(rng, rng.uniform(0.03, 0.42, m), male)  # ALT minor: plink2 A1
    sex = np.where(male, 1, 2)
    sex[:unknown_sex] = 0
    write_bed(tmp_path / "x", G, ids, chrom="X", sex=sex)
    return ids, cov, male, G, sex


def _write_plink_inputs(tmp_path, ids, y, cov, cols):
    pd.DataFrame({"#FID": ids, "IID": ids, "y": y}).to_csv(
        tmp_path / "pheno.txt", sep="\t", index=False, float_format="%.17g"
    )
    cov.rename(columns={"sample_id": "IID"}).assign(**{"#FID": ids})[["#FID", "IID", *cols]].to_csv(
        tmp_path / "covar.txt", sep="\t", index=False, float_format="%.17g"
    )


@needs_plink2
@pytest.mark.parametrize("with_sex_covariate", [True, False])
def test_d1_chrx_equals_plink2_glm(tmp_path, with_sex_covariate):
    """d = 1 on chromosome X: p equals plink2 --glm (default --xchr-model 2) to its printed
    precision, with or without sex_male among our covariates (plink2 adds sex itself; the sex
    column is counted once in the degrees of freedom). plink2's BETA equals OLS on the .bed
    values (men 0/2) with sex as a covariate, so the coding is plink2's. Three samples of
    unknown sex are left out by both."""
    rng = np.random.default_rng(23)
    n = 500
    ids, cov, male, G, sex = _cohort(tmp_path, rng, n=n, unknown_sex=3)
    y = rng.normal(size=n) + 0.03 * cov["age"] + 0.5 * male + 0.3 * G[3] - 0.4 * G[7]
    write_embeddings(ids, y.to_numpy()[:, None], tmp_path / "e.parquet")
    yy = pd.read_parquet(tmp_path / "e.parquet")["z000"].to_numpy(float)
    plink_cols = ["age", "PC1", "PC2"]  # plink2 adds sex on X; sex_male too would be collinear
    _write_plink_inputs(tmp_path, ids, yy, cov, plink_cols)
    _plink2(
        "--bfile",
        str(tmp_path / "x"),
        "--pheno",
        str(tmp_path / "pheno.txt"),
        "--covar",
        str(tmp_path / "covar.txt"),
        "--glm",
        "hide-covar",
        "--out",
        str(tmp_path / "plink"),
    )
    ref = pd.read_csv(tmp_path / "plink.y.glm.linear", sep="\t").set_index("ID")
    cols = [*plink_cols, "sex_male"] if with_sex_covariate else plink_cols
    counts = gwas.gwas_chromosome(
        tmp_path / "e.parquet",
        tmp_path / "x",
        tmp_path / "o.parquet",
        OPEN_QC,
        cov,
        covariate_columns=cols,
    )
    res = pd.read_parquet(tmp_path / "o.parquet").set_index("variant_id")
    assert len(res) == len(ref) == 30
    ref = ref.loc[res.index]
    assert (res["chromosome"] == "X").all()
    assert (ref["A1"] == res["effect_allele"]).all()
    assert (ref["OBS_CT"] == n - 3).all() and (res["n"] == n - 3).all()
    np.testing.assert_allclose(res["f_stat"], ref["T_STAT"] ** 2, rtol=2e-5)
    np.testing.assert_allclose(res["p_value"], ref["P"], rtol=2e-5)
    # intercept, age, PC1, PC2, sex: five columns however sex was given
    assert (res["df2"] == n - 3 - 5 - 1).all()
    assert counts["n_males"] == int(male[3:].sum()) and counts["male_het_calls"] == 0
    # plink2's beta is that of the .bed values (men 0/2) with sex as a covariate
    keep = sex > 0
    X = np.column_stack([np.ones(n), cov[["age", "PC1", "PC2"]].to_numpy(float), male])[keep]
    for v in ("v3", "v7", "v12"):
        g = G[int(v[1:])][keep].astype(float)
        fit = sm.OLS(yy[keep], np.column_stack([X, g])).fit()
        assert fit.params[-1] == pytest.approx(ref.loc[v, "BETA"], rel=2e-5)
        assert fit.pvalues[-1] == pytest.approx(ref.loc[v, "P"], rel=2e-5)


@needs_plink2
def test_chrx_frequencies_equal_plink2_freq(tmp_path):
    """effect_allele_frequency on X counts a man once: equal to a direct count and to plink2
    --freq (ALT_FREQS, OBS_CT = 2 x women + men)."""
    rng = np.random.default_rng(5)
    ids, cov, male, G, _ = _cohort(tmp_path, rng, n=400, m=20)
    write_embeddings(ids, rng.normal(size=(400, 2)), tmp_path / "e.parquet")
    gwas.gwas_chromosome(tmp_path / "e.parquet", tmp_path / "x", tmp_path / "o.parquet", OPEN_QC)
    res = pd.read_parquet(tmp_path / "o.parquet").set_index("variant_id")
    _plink2("--bfile", str(tmp_path / "x"), "--freq", "--out", str(tmp_path / "p"))
    freq = pd.read_csv(tmp_path / "p.afreq", sep="\t").set_index("ID").loc[res.index]
    direct = (G[:, ~male].sum(axis=1) + (G[:, male] == 2).sum(axis=1)) / (
        2 * (~male).sum() + male.sum()
    )
    order = [int(v[1:]) for v in res.index]
    np.testing.assert_allclose(res["effect_allele_frequency"], direct[order], rtol=1e-12)
    np.testing.assert_allclose(res["effect_allele_frequency"], freq["ALT_FREQS"], rtol=1e-5)
    assert (freq["OBS_CT"] == 2 * (~male).sum() + male.sum()).all()
    # the diploid count (men twice) differs: the test can tell the two apart
    assert not np.allclose(direct, G.sum(axis=1) / (2 * len(male)), rtol=1e-3)


@needs_plink2
def test_chrx_hwe_among_women_equals_plink2_hardy(tmp_path):
    """HWE on X is the exact test among women: the variants kept are those whose plink2 --hardy
    P, run on the women only with X relabelled as an autosome, is >= gwas.hwe_p. A variant in
    perfect HWE among women passes, though the pooled test of everyone (men have no
    heterozygotes) rejects it by far. (plink2's own .hardy.x / --hwe on X use Graffelman & Weir
    2016, which also tests equal allele frequencies in men and women: not this test.)"""
    rng = np.random.default_rng(8)
    n_f, n_m = 300, 300
    male = np.r_[np.zeros(n_f, bool), np.ones(n_m, bool)]
    ids = [f"s{i}" for i in range(n_f + n_m)]
    rows = []
    for k in range(0, 34, 3):  # heterozygote deficit k pairs: 147+k / 126-2k / 27+k (q = 0.3)
        g = np.repeat([0, 1, 2], [147 + k, 126 - 2 * k, 27 + k]).astype(np.int8)
        rows.append(np.r_[rng.permutation(g), 2 * rng.binomial(1, 0.3, n_m)])
    G = np.array(rows, dtype=np.int8)
    write_bed(tmp_path / "x", G, ids, chrom="23", sex=np.where(male, 1, 2))
    write_bed(tmp_path / "w", G[:, :n_f], ids[:n_f], chrom="1", sex=np.full(n_f, 2))
    write_embeddings(ids, rng.normal(size=(len(ids), 3)), tmp_path / "e.parquet")
    _plink2("--bfile", str(tmp_path / "w"), "--hardy", "--out", str(tmp_path / "p"))
    hardy = pd.read_csv(tmp_path / "p.hardy", sep="\t").set_index("ID")
    threshold = 1e-4
    cfg = {**OPEN_QC, "hwe_p": threshold, "hwe_groups": "none"}
    counts = gwas.gwas_chromosome(
        tmp_path / "e.parquet", tmp_path / "x", tmp_path / "o.parquet", cfg
    )
    res = pd.read_parquet(tmp_path / "o.parquet")
    expected = set(hardy.index[hardy["P"] >= threshold])
    assert 0 < len(expected) < len(G)
    assert set(res["variant_id"]) == expected
    assert counts["fail_hwe"] == len(G) - len(expected)
    assert "v0" in expected and hardy.loc["v0", "P"] > 0.5
    c = genotype_counts(G[:1])
    assert hwe_exact_p(c.c1, c.c0, c.c2)[0] < 1e-30  # pooled: men look like a het deficit
    # .bim code 23 is X; the chromosome is reported as the .bim names it (file sets are found
    # by that name: chr{chrom})
    assert (res["chromosome"] == "23").all()


@needs_plink2
def test_male_heterozygous_calls_are_missing(tmp_path):
    """Heterozygous male calls on X become missing and are counted: call counts and allele
    frequencies equal plink2 --set-hh-missing + --missing/--freq; the call-rate filter sees them."""
    rng = np.random.default_rng(31)
    ids, cov, male, G, sex = _cohort(tmp_path, rng, n=400, m=6)
    men = np.flatnonzero(male)
    G[0, men[:5]] = 1  # 5 het male calls: called 395 of 400
    G[1, men[:40]] = 1  # 40: call rate 0.9 fails min_call_rate 0.95
    write_bed(tmp_path / "x", G, ids, chrom="X", sex=sex)
    write_embeddings(ids, rng.normal(size=(400, 2)), tmp_path / "e.parquet")
    _plink2(
        "--bfile",
        str(tmp_path / "x"),
        "--set-hh-missing",
        "--make-bed",
        "--out",
        str(tmp_path / "hh"),
    )
    _plink2("--bfile", str(tmp_path / "hh"), "--freq", "--missing", "--out", str(tmp_path / "p"))
    freq = pd.read_csv(tmp_path / "p.afreq", sep="\t").set_index("ID")
    vmiss = pd.read_csv(tmp_path / "p.vmiss", sep="\t").set_index("ID")
    counts = gwas.gwas_chromosome(
        tmp_path / "e.parquet",
        tmp_path / "x",
        tmp_path / "o.parquet",
        {**OPEN_QC, "min_call_rate": 0.95},
    )
    res = pd.read_parquet(tmp_path / "o.parquet").set_index("variant_id")
    assert counts["male_het_calls"] == 45
    assert counts["fail_call_rate"] == 1 and "v1" not in res.index
    np.testing.assert_array_equal(res["n"], 400 - vmiss.loc[res.index, "MISSING_CT"])
    assert res.loc["v0", "n"] == 395
    np.testing.assert_allclose(
        res["effect_allele_frequency"], freq.loc[res.index, "ALT_FREQS"], rtol=1e-5
    )
    # the .bed after plink2 --set-hh-missing holds exactly our recoded calls
    with BedReader(tmp_path / "hh") as r:
        theirs = r.read(0, r.n_variants)
    ours = G.copy()
    n_het = set_male_het_missing(ours, male)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(n_het, [5, 40, 0, 0, 0, 0])


def test_x_counts_count_men_once():
    """x_genotype_counts: alleles 2 per woman and 1 per man (a direct count)."""
    G = np.array([[0, 1, 2, 0, 2, -9], [2, 2, 1, 2, 0, 0]], dtype=np.int8)
    male = np.array([False, False, False, True, True, True])
    c = x_genotype_counts(G, male)
    np.testing.assert_array_equal(c.x_alleles, [6 + 2, 6 + 3])
    np.testing.assert_array_equal(c.x_alt, [3 + 1, 5 + 1])
    np.testing.assert_array_equal(c.subset(np.array([1])).x_alt, [6])
    np.testing.assert_array_equal(c.called, [5, 6])


def test_female_hwe_groups():
    """Men leave every HWE group; a group left with too few women is not tested."""
    male = np.array([0, 1, 0, 1, 0, 0, 1], bool)
    np.testing.assert_array_equal(female_hwe_groups(None, male, 50), [0, -1, 0, -1, 0, 0, -1])
    groups = np.array([0, 0, 1, 1, 0, 0, -1])  # women: three in group 0, one in group 1
    np.testing.assert_array_equal(female_hwe_groups(groups, male, 2), [0, -1, -1, -1, 0, 0, -1])


def test_mixed_x_file_set_is_an_error(tmp_path):
    """A file set mixing X with autosomes stops with a clear error (X needs its own)."""
    G = np.zeros((2, 4), dtype=np.int8)
    write_bed(tmp_path / "m", G, list("abcd"), chrom=["1", "X"])
    with pytest.raises(InputError, match="chromosome X is mixed with 1"):
        x_file_set(tmp_path / "m.bim")
    write_bed(tmp_path / "a", G, list("abcd"), chrom=["1", "2"])
    assert not x_file_set(tmp_path / "a.bim")


def test_lead_genotypes_on_x_drop_male_heterozygous_calls(tmp_path):
    """Clumping LD and lead directions read X as the GWAS does: heterozygous male calls missing;
    autosomes keep every call."""
    from regwas.associate.gwas.clump import read_variants

    ids = [f"s{i}" for i in range(6)]
    sex = np.array([1, 1, 2, 2, 1, 2])
    G = np.array([[1, 2, 1, 0, 0, 1], [0, 1, 2, 1, 2, 0]], dtype=np.int8)
    for c in ("X", "1"):
        write_bed(tmp_path / f"chr{c}", G, ids, chrom=c, sex=sex)
    order = np.array(ids[::-1])
    got = read_variants(str(tmp_path / "chr{chrom}"), "X", np.array(["v1", "v0"]), order)
    want = np.where((G == 1) & (sex == 1), -9, G)[[1, 0]][:, ::-1]
    np.testing.assert_array_equal(got, want)
    got = read_variants(str(tmp_path / "chr{chrom}"), "1", np.array(["v0"]), np.array(ids))
    np.testing.assert_array_equal(got, G[:1])


@needs_plink2
def test_chrx_hwe_within_groups_among_women(tmp_path):
    """gwas.hwe_groups on X: the exact test among the women of each group. A variant in HWE in
    each of two sites with different allele frequencies passes (pooling the women would show a
    Wahlund heterozygote deficit), one out of HWE in one site fails: the variants kept are those
    whose plink2 --hardy p among each site's women passes."""
    rng = np.random.default_rng(3)
    n_f, n_m = 200, 150
    sites = np.repeat(["a", "b"], n_f + n_m)
    male = np.tile(np.r_[np.zeros(n_f, bool), np.ones(n_m, bool)], 2)
    ids = [f"s{i}" for i in range(len(sites))]

    def women(hom_ref, het, hom_alt):
        return rng.permutation(np.repeat([0, 1, 2], [hom_ref, het, hom_alt]))

    def site_block(counts, q):
        return np.r_[women(*counts), 2 * rng.binomial(1, q, n_m)]

    rows = [
        np.r_[site_block((162, 36, 2), 0.1), site_block((32, 96, 72), 0.6)],  # v0: Wahlund
        np.r_[site_block((118, 44, 38), 0.3), site_block((98, 84, 18), 0.3)],  # v1: fails in a
    ]
    for q in rng.uniform(0.1, 0.5, 6):  # v2..v7: random draws, both sites alike
        draws = [np.bincount(rng.binomial(2, q, n_f), minlength=3) for _ in "ab"]
        rows.append(np.r_[site_block(draws[0], q), site_block(draws[1], q)])
    G = np.array(rows, dtype=np.int8)
    write_bed(tmp_path / "x", G, ids, chrom="X", sex=np.where(male, 1, 2))
    write_embeddings(ids, rng.normal(size=(len(ids), 2)), tmp_path / "e.parquet")
    threshold = 1e-6
    passes = np.ones(len(G), bool)
    for s in ("a", "b"):
        w = (~male) & (sites == s)
        write_bed(tmp_path / s, G[:, w], list(np.array(ids)[w]), chrom="1", sex=np.full(w.sum(), 2))
        _plink2("--bfile", str(tmp_path / s), "--hardy", "--out", str(tmp_path / s))
        p = pd.read_csv(tmp_path / f"{s}.hardy", sep="\t")["P"].to_numpy()
        passes &= p >= threshold
    cov = pd.DataFrame({"sample_id": ids, "age": rng.normal(50, 5, len(ids)), "site": sites})
    cfg = {**OPEN_QC, "hwe_p": threshold, "hwe_groups": "site", "hwe_min_group": 50}
    counts = gwas.gwas_chromosome(
        tmp_path / "e.parquet",
        tmp_path / "x",
        tmp_path / "o.parquet",
        cfg,
        cov,
        covariate_columns=["age"],
    )
    res = pd.read_parquet(tmp_path / "o.parquet")
    assert set(res["variant_id"]) == {f"v{i}" for i in np.flatnonzero(passes)}
    assert passes[0] and not passes[1] and counts["fail_hwe"] == int((~passes).sum())
    f = genotype_counts(G[:1, ~male])
    assert hwe_exact_p(f.c1, f.c0, f.c2)[0] < threshold  # all women pooled: Wahlund deficit

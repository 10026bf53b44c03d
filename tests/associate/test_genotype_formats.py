"""PLINK 2 (.pgen) and BGEN 1.2 input: the same genotypes converted by plink2 give the same
summary statistics as the .bed; BGEN dosages enter the additive test as dosages (d = 1 equals
plink2 --glm on the dosages), INFO equals plink2's MACH_R2, the 2-df test uses plink2's hard
calls; and the bad inputs stop with a clear error that names the file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_gwas import covariate_table, impute, simulate_genotypes, write_bed

from regwas.associate import gwas
from regwas.associate.gwas.qc import dosage_sums
from regwas.errors import InputError
from regwas.io.embeddings import write_embeddings
from regwas.io.genotypes import genotype_format, open_genotypes, read_sample_ids

PLINK2 = shutil.which("plink2")
pytestmark = pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (make system)")
try:  # the BGEN reader (requirements.lock); .pgen tests run without it
    import bgen
except ImportError:  # pragma: no cover - installed with the project
    bgen = None
needs_bgen = pytest.mark.skipif(bgen is None, reason="the bgen package is not installed")
READABLE = ("g", "p", "b") if bgen is not None else ("g", "p")

COLS = ["age", "site", "PC1", "PC2"]
LOOSE = {"min_maf": 0.005, "min_mac": 1, "min_call_rate": 0.9, "hwe_p": 0.0}


def _plink2(*args: str) -> None:
    subprocess.run(
        [PLINK2, "--threads", "1", "--memory", "1000", *args],
        check=True,
        capture_output=True,
        text=True,
    )


def _run(emb: Path, prefix: str, out: Path, cov: pd.DataFrame, **cfg) -> tuple[pd.DataFrame, dict]:
    counts = gwas.gwas_chromosome(
        emb, prefix, out, {**LOOSE, **cfg}, cov, covariate_columns=COLS, threads=1
    )
    return pd.read_parquet(out), counts


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """400 people, 3 latent dims with 3 causal variants, 60 variants with missing calls and
    rare ones (some with an empty genotype class); .bed converted by plink2 to .pgen and to an
    8-bit BGEN 1.2 (REF first, as UK Biobank's) with its .sample file."""
    rng = np.random.default_rng(21)
    tmp = tmp_path_factory.mktemp("formats")
    n = 400
    ids = [f"p{i:04d}" for i in range(n)]
    freqs = np.concatenate([rng.uniform(0.005, 0.02, 10), rng.uniform(0.05, 0.5, 50)])
    G = simulate_genotypes(rng, freqs, n, rng.choice([0.0, 0.03], len(freqs)))
    cov = covariate_table(rng, ids)
    Y = rng.normal(size=(n, 3)) + 0.3 * cov[["PC1"]].to_numpy()
    g = impute(G)
    Y[:, 0] += 0.7 * g[12]
    Y[:, 1] -= 0.5 * g[30]
    Y[:, 2] += 0.9 * g[45]
    write_bed(tmp / "g", G, ids)
    write_embeddings(ids, Y, tmp / "emb.parquet")
    _plink2("--bfile", str(tmp / "g"), "--make-pgen", "--out", str(tmp / "p"))
    _plink2(
        "--bfile",
        str(tmp / "g"),
        "--export",
        "bgen-1.2",
        "bits=8",
        "ref-first",
        "--out",
        str(tmp / "b"),
    )
    return {"dir": tmp, "ids": ids, "G": G, "cov": cov, "emb": tmp / "emb.parquet"}


def test_formats_are_found_by_their_files(cohort):
    d = cohort["dir"]
    assert [genotype_format(d / p) for p in ("g", "p", "b")] == ["bed", "pgen", "bgen"]
    assert genotype_format(f"{d / 'b'}.bgen") == "bgen"
    for p in READABLE:
        assert list(read_sample_ids(d / p)) == cohort["ids"]
        with open_genotypes(d / p, np.array([7, 3, 5])) as reader:
            np.testing.assert_array_equal(reader.read(0, 60), cohort["G"][:, [7, 3, 5]])


@pytest.mark.parametrize("model", ["additive", "genotypic"])
def test_pgen_and_bgen_give_the_bed_results(cohort, model):
    """plink2's .pgen gives the .bed's summary statistics exactly; the 8-bit BGEN of the same
    hard calls holds them exactly too (probabilities 0 and 1 are exact at 8 bits)."""
    d, cov = cohort["dir"], cohort["cov"]
    bed, c_bed = _run(cohort["emb"], str(d / "g"), d / f"bed_{model}.parquet", cov, model=model)
    pgen, c_pgen = _run(cohort["emb"], str(d / "p"), d / f"pgen_{model}.parquet", cov, model=model)
    assert len(bed) > 40 and bed["neg_log10_p"].max() > 8
    pd.testing.assert_frame_equal(pgen, bed)
    if bgen is None:
        pytest.skip("the bgen package is not installed (the .pgen part passed)")
    bg, c_bg = _run(cohort["emb"], f"{d / 'b'}.bgen", d / f"bgen_{model}.parquet", cov, model=model)
    pd.testing.assert_frame_equal(bg, bed, rtol=1e-9)
    for c in (c_pgen, c_bg):
        assert c["n_variants_with_dosages"] == 0
        assert {k: c[k] for k in c if k.startswith("fail")} == {
            k: c_bed[k] for k in c_bed if k.startswith("fail")
        }


# ----------------------------------------------------------------------------- dosages


@pytest.fixture(scope="module")
def dosages(tmp_path_factory):
    """A BGEN (layout 2, zstd, 16 bits) of imputation-like genotype probabilities: per variant a
    quality w mixes the true genotype with its HWE prior (INFO about w^2); one latent dimension
    and covariates for plink2 --glm."""
    if bgen is None:
        pytest.skip("the bgen package is not installed (writes the dosage BGEN)")
    rng = np.random.default_rng(5)
    tmp = tmp_path_factory.mktemp("dosages")
    n, m = 500, 40
    ids = [f"q{i:04d}" for i in range(n)]
    f = rng.uniform(0.05, 0.5, m)
    w = np.concatenate([rng.uniform(0.3, 0.5, 8), rng.uniform(0.85, 1.0, m - 8)])
    G = rng.binomial(2, f[:, None], size=(m, n))
    prior = np.stack([(1 - f) ** 2, 2 * f * (1 - f), f**2], axis=1)
    with bgen.BgenWriter(str(tmp / "d.bgen"), n, samples=ids) as out:
        for j in range(m):
            probs = w[j] * np.eye(3)[G[j]] + (1 - w[j]) * prior[j]
            out.add_variant(
                varid=f"d{j}",
                rsid=f"d{j}",
                chrom="1",
                pos=1000 * (j + 1),
                alleles=["G", "A"],
                genotypes=probs,
                bit_depth=16,
            )
    (tmp / "d.sample").write_text(
        "ID_1 ID_2 missing\n0 0 0\n" + "".join(f"{i} {i} 0\n" for i in ids)
    )
    cov = covariate_table(rng, ids)
    y = rng.normal(size=n) + 0.4 * cov["PC1"].to_numpy() + 0.5 * G[20] - 0.4 * G[30]
    write_embeddings(ids, y[:, None], tmp / "e.parquet")
    bgen_in = ["--bgen", str(tmp / "d.bgen"), "ref-first", "--sample", str(tmp / "d.sample")]
    _plink2(*bgen_in, "--make-pgen", "--out", str(tmp / "dp"))  # keeps the dosages
    _plink2(*bgen_in, "--make-bed", "--out", str(tmp / "hc"))  # hard calls (threshold 0.1)
    return {"dir": tmp, "ids": ids, "cov": cov, "w": w}


def test_dosage_additive_test_equals_plink2_glm(dosages):
    """d = 1: our F on the dosages of the .pgen that plink2 writes from the BGEN equals plink2
    --glm's T^2 on that .pgen; the BGEN itself gives the same within plink2's dosage rounding
    (it stores dosages in units of 1/16384)."""
    d, cov = dosages["dir"], dosages["cov"]
    yy = pd.read_parquet(d / "e.parquet")["z000"].to_numpy(float)
    pd.DataFrame({"#FID": dosages["ids"], "IID": dosages["ids"], "y": yy}).to_csv(
        d / "pheno.txt", sep="\t", index=False, float_format="%.17g"
    )
    design = pd.get_dummies(cov["site"], drop_first=True, dtype=float)
    covar = pd.concat([cov[["age", "PC1", "PC2"]], design], axis=1)
    covar.insert(0, "IID", dosages["ids"])
    covar.insert(0, "#FID", dosages["ids"])
    covar.to_csv(d / "covar.txt", sep="\t", index=False, float_format="%.17g")
    _plink2(
        "--pfile",
        str(d / "dp"),
        "--pheno",
        str(d / "pheno.txt"),
        "--covar",
        str(d / "covar.txt"),
        "--glm",
        "hide-covar",
        "--out",
        str(d / "plink"),
    )
    ref = pd.read_csv(d / "plink.y.glm.linear", sep="\t").set_index("ID")
    pg, counts_pg = _run(d / "e.parquet", str(d / "dp"), d / "op.parquet", cov, min_info=0)
    assert counts_pg["n_variants_with_dosages"] == 40 and len(pg) == 40
    pg = pg.set_index("variant_id")
    ref = ref.loc[pg.index]
    assert (ref["ALT"] == pg["effect_allele"]).all()  # (plink2's A1 is the minor allele)
    np.testing.assert_allclose(pg["f_stat"], ref["T_STAT"] ** 2, rtol=2e-5)
    np.testing.assert_allclose(pg["p_value"], ref["P"], rtol=2e-5)
    res, counts = _run(d / "e.parquet", str(d / "d"), d / "o.parquet", cov, min_info=0)
    assert counts["n_variants_with_dosages"] == 40 and len(res) == 40
    np.testing.assert_allclose(res["neg_log10_p"], pg["neg_log10_p"].to_numpy(), atol=2e-4)
    np.testing.assert_allclose(
        res["effect_allele_frequency"], pg["effect_allele_frequency"].to_numpy(), atol=1e-4
    )
    # dosages, not hard calls: the hard-called test differs
    hc, _ = _run(d / "e.parquet", str(d / "hc"), d / "ohc.parquet", cov, min_info=0)
    common = hc["variant_id"].to_numpy()
    diff = np.abs(hc["neg_log10_p"].to_numpy() - pg.loc[common, "neg_log10_p"].to_numpy())
    assert diff.max() > 1e-2


def test_info_equals_plink2_mach_r2_and_filters(dosages):
    d, cov = dosages["dir"], dosages["cov"]
    _plink2("--pfile", str(d / "dp"), "--freq", "cols=+machr2", "--out", str(d / "freq"))
    ref = pd.read_csv(d / "freq.afreq", sep="\t")
    with open_genotypes(d / "dp") as reader:
        _, D = reader.read_block(0, reader.n_variants)
    info = dosage_sums(D).info
    np.testing.assert_allclose(info, ref["MACH_R2"], rtol=1e-5)
    assert (info < 0.3).sum() >= 4  # the low-quality variants
    res, counts = _run(d / "e.parquet", str(d / "dp"), d / "oi.parquet", cov, min_info=0.3)
    assert counts["fail_info"] == int((ref["MACH_R2"] < 0.3).sum())
    assert set(res["variant_id"]) == set(ref.loc[ref["MACH_R2"] >= 0.3, "ID"])
    # the BGEN's own dosages: the same variants fail
    _, counts_b = _run(d / "e.parquet", str(d / "d"), d / "ob.parquet", cov, min_info=0.3)
    assert counts_b["fail_info"] == counts["fail_info"]


def test_genotypic_model_uses_plink2_hard_calls(dosages):
    """The 2-df test on dosages tests the hard calls: equal to the .bed plink2 writes from the
    BGEN with its default hard-call threshold (0.1)."""
    d, cov = dosages["dir"], dosages["cov"]
    cfg = {"model": "genotypic", "min_info": 0, "min_call_rate": 0}
    ours, _ = _run(d / "e.parquet", str(d / "d"), d / "og.parquet", cov, **cfg)
    hard, _ = _run(d / "e.parquet", str(d / "hc"), d / "oh.parquet", cov, **cfg)
    assert len(hard) > 10
    ours = ours.set_index("variant_id").loc[hard["variant_id"]]
    np.testing.assert_allclose(ours["neg_log10_p"], hard["neg_log10_p"].to_numpy(), rtol=1e-9)
    np.testing.assert_array_equal(ours["n"], hard["n"].to_numpy())


# ----------------------------------------------------------------------------- bad input


def test_bgen_without_sample_file_is_named(cohort, tmp_path):
    shutil.copy(cohort["dir"] / "b.bgen", tmp_path / "x.bgen")
    out = tmp_path / "o.parquet"
    with pytest.raises(InputError, match=r"x\.bgen: BGEN file without its \.sample file"):
        _run(cohort["emb"], str(tmp_path / "x"), out, cohort["cov"])
    assert list(tmp_path.iterdir()) == [tmp_path / "x.bgen"]


def test_pgen_samples_not_matching_the_tables_are_named(cohort, tmp_path):
    for ext in ("pgen", "pvar"):
        shutil.copy(cohort["dir"] / f"p.{ext}", tmp_path / f"x.{ext}")
    psam = (cohort["dir"] / "p.psam").read_text().replace("p0007", "stranger")
    (tmp_path / "x.psam").write_text(psam)
    out = tmp_path / "o.parquet"
    with pytest.raises(InputError, match=r"x\.psam.*p0007"):
        _run(cohort["emb"], str(tmp_path / "x"), out, cohort["cov"])
    assert not out.exists() and not list(tmp_path.glob("*.parquet*"))


@needs_bgen
def test_bgen_sample_file_not_matching_the_bgen_is_named(cohort, tmp_path):
    shutil.copy(cohort["dir"] / "b.bgen", tmp_path / "x.bgen")
    lines = (cohort["dir"] / "b.sample").read_text().splitlines()
    lines[2], lines[3] = lines[3], lines[2]  # two samples swapped
    (tmp_path / "x.sample").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"x\.bgen: sample 1 is .* in the BGEN but p0001 in"):
        _run(cohort["emb"], str(tmp_path / "x"), tmp_path / "o.parquet", cohort["cov"])
    assert not (tmp_path / "o.parquet").exists()


def test_two_formats_under_one_prefix_are_ambiguous(cohort, tmp_path):
    for ext in ("bed", "bim", "fam"):
        shutil.copy(cohort["dir"] / f"g.{ext}", tmp_path / f"x.{ext}")
    for ext in ("pgen", "pvar", "psam"):
        shutil.copy(cohort["dir"] / f"p.{ext}", tmp_path / f"x.{ext}")
    with pytest.raises(InputError, match=r"\.bed and \.pgen both exist"):
        genotype_format(tmp_path / "x")
    assert genotype_format(f"{tmp_path / 'x'}.pgen") == "pgen"


@needs_bgen
def test_cli_reads_pgen_and_bgen_and_exits_2_without_the_sample_file(cohort, tmp_path, capsys):
    """`regwas gwas --bfile chr{chrom}.bgen` and a .pgen prefix give the .bed's results; a
    BGEN without its .sample file exits 2 naming it, before any output is written."""
    from regwas.cli import main

    d = cohort["dir"]
    for stem, exts in (("p", ("pgen", "pvar", "psam")), ("b", ("bgen", "sample"))):
        for ext in exts:
            shutil.copy(d / f"{stem}.{ext}", tmp_path / f"{stem}chr1.{ext}")
    cov = tmp_path / "cov.tsv"
    cohort["cov"].to_csv(cov, sep="\t", index=False)
    args = ["gwas", "--embeddings", str(cohort["emb"]), "--covariates", str(cov)]
    args += ["--covariate-cols", ",".join(COLS), "--hwe-p", "0", "--chromosomes", "1"]
    out = {}
    for name, pattern in (
        ("pgen", tmp_path / "pchr{chrom}"),
        ("bgen", tmp_path / "bchr{chrom}.bgen"),
    ):
        assert (
            main([*args, "--bfile", str(pattern), "--out", str(tmp_path / f"{name}.tsv.gz")]) == 0
        )
        out[name] = pd.read_csv(tmp_path / f"{name}.tsv.gz", sep="\t")
    pd.testing.assert_frame_equal(out["pgen"], out["bgen"])
    assert len(out["pgen"]) > 40
    (tmp_path / "bchr1.sample").unlink()
    rc = main(
        [*args, "--bfile", str(tmp_path / "bchr{chrom}"), "--out", str(tmp_path / "x.tsv.gz")]
    )
    assert rc == 2
    assert "bchr1.bgen: BGEN file without its .sample file" in capsys.readouterr().err
    assert not (tmp_path / "x.tsv.gz").exists()


def test_a_bed_named_with_its_extension(cohort, tmp_path):
    """inputs.genotypes may name the .bed itself (chr{chrom}.bed): the cohort checks and the
    GWAS read the same file set."""
    from regwas.cohort.checks import check_bed_files, check_fam_files, chromosome_prefixes

    d = cohort["dir"]
    for ext in ("bed", "bim", "fam"):
        shutil.copy(d / f"g.{ext}", tmp_path / f"chr1.{ext}")
    prefixes = chromosome_prefixes(str(tmp_path / "chr{chrom}.bed"), ["1"])
    fam = check_fam_files(prefixes)
    assert check_bed_files(prefixes, len(fam)) == 60
    a, _ = _run(cohort["emb"], prefixes["1"], tmp_path / "a.parquet", cohort["cov"])
    b, _ = _run(cohort["emb"], str(d / "g"), tmp_path / "b.parquet", cohort["cov"])
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("backend", ["torch", "mixed"])
def test_dosage_backends_agree_with_numpy(dosages, backend):
    """Float dosages through the torch backend and the mixed-precision screen give the numpy
    float64 results (missing dosages filled the same way)."""
    if backend == "torch":
        pytest.importorskip("torch")
    d, cov = dosages["dir"], dosages["cov"]
    ref, _ = _run(d / "e.parquet", str(d / "d"), d / "n.parquet", cov, min_info=0)
    extra = {"backend": "torch"} if backend == "torch" else {"precision": "mixed"}
    got, _ = _run(d / "e.parquet", str(d / "d"), d / f"{backend}.parquet", cov, min_info=0, **extra)
    np.testing.assert_allclose(got["neg_log10_p"], ref["neg_log10_p"], rtol=1e-6, atol=1e-6)


@needs_bgen
def test_missing_dosages_are_mean_imputed_as_statsmodels(tmp_path):
    """A BGEN with missing genotype probabilities: n counts the people with a dosage and the
    additive test equals statsmodels' MANOVA (d = 3, covariates) on the mean-imputed dosages
    read back from the file."""
    from test_gwas import _design, _statsmodels_pillai

    from regwas.io.embeddings import read_embeddings

    rng = np.random.default_rng(9)
    n, m = 300, 6
    ids = [f"r{i:03d}" for i in range(n)]
    f = rng.uniform(0.1, 0.5, m)
    G = rng.binomial(2, f[:, None], size=(m, n))
    prior = np.stack([(1 - f) ** 2, 2 * f * (1 - f), f**2], axis=1)
    with bgen.BgenWriter(str(tmp_path / "m.bgen"), n, samples=ids) as out:
        for j in range(m):
            probs = 0.8 * np.eye(3)[G[j]] + 0.2 * prior[j]
            probs[rng.random(n) < 0.03] = np.nan  # missing
            out.add_variant(
                varid=f"m{j}",
                rsid=f"m{j}",
                chrom="1",
                pos=100 * (j + 1),
                alleles=["G", "A"],
                genotypes=probs,
                bit_depth=16,
            )
    (tmp_path / "m.sample").write_text(
        "ID_1 ID_2 missing\n0 0 0\n" + "".join(f"{i} {i} 0\n" for i in ids)
    )
    cov = covariate_table(rng, ids)
    Y = rng.normal(size=(n, 3)) + 0.5 * G[2][:, None]
    write_embeddings(ids, Y, tmp_path / "e.parquet")
    res, counts = _run(
        tmp_path / "e.parquet", str(tmp_path / "m"), tmp_path / "o.parquet", cov, min_info=0
    )
    assert counts["n_variants_with_dosages"] == m and len(res) == m
    with open_genotypes(tmp_path / "m") as reader:
        _, D = reader.read_block(0, m)
    _, Yf, _ = read_embeddings(tmp_path / "e.parquet")
    X = _design(cov)
    for j, row in res.iterrows():
        called = D[j] >= 0
        assert row["n"] == called.sum() < n
        x = np.where(called, D[j], D[j][called].mean())
        ref = _statsmodels_pillai(Yf, X, x[:, None])
        assert row["pillai"] == pytest.approx(ref["Value"], rel=1e-8)
        assert row["p_value"] == pytest.approx(ref["Pr > F"], rel=1e-8)
        assert row["effect_allele_frequency"] == pytest.approx(D[j][called].mean() / 2, rel=1e-12)


@pytest.mark.parametrize("model", ["additive", "genotypic"])
def test_simulated_biobank_genotypes_as_pgen_and_bgen(tmp_path_factory, model):
    """The embedded simulator's genotypes (coalescent, as in the demo; one small chromosome)
    converted by plink2 to .pgen and 8-bit BGEN give the .bed's summary statistics, untestable
    2-df rows and their notes included; the planted causal variants show (p < 0.1)."""
    from regwas.simulate import simulate

    out = tmp_path_factory.mktemp(f"sim_{model}") / "biobank"
    cfg = {
        "n_samples": 400,
        "render": False,
        "modalities": ["ecg"],
        "genotypes": {"n_chromosomes": 1, "chromosome_length": 500_000},
        "factors": {
            "names": {"ecg": ["a", "b"]},
            "causal_per_factor": 1,
            "min_causal_distance": 0,
        },
        "diseases": [{"icd10": "J45.9", "prevalence": 0.1}],
    }
    simulate(cfg, 3, out, threads=1)
    g = out / "genotypes"
    _plink2("--bfile", str(g / "chr1"), "--make-pgen", "--out", str(g / "p1"))
    _plink2(
        "--bfile",
        str(g / "chr1"),
        "--export",
        "bgen-1.2",
        "bits=8",
        "ref-first",
        "--out",
        str(g / "b1"),
    )
    factors = pd.read_csv(out / "truth" / "factors.tsv", sep="\t")
    write_embeddings(
        factors["sample_id"].tolist(), factors[["ecg.a", "ecg.b"]].to_numpy(), g / "e.parquet"
    )
    samples = pd.read_csv(out / "samples.tsv", sep="\t")
    cfg = {"min_maf": 0.01, "min_mac": 1, "hwe_p": 0.0, "model": model}
    frames = {}
    sets = [("bed", g / "chr1"), ("pgen", g / "p1")] + [("bgen", f"{g / 'b1'}.bgen")] * (
        bgen is not None
    )
    for name, prefix in sets:
        gwas.gwas_chromosome(
            g / "e.parquet",
            prefix,
            g / f"{name}.parquet",
            cfg,
            samples,
            covariate_columns=["age", "sex"],
        )
        frames[name] = pd.read_parquet(g / f"{name}.parquet")
    bed = frames["bed"]
    assert len(bed) > 500
    pd.testing.assert_frame_equal(frames["pgen"], bed)
    if bgen is not None:
        pd.testing.assert_frame_equal(frames["bgen"], bed, rtol=1e-9)
    causal = pd.read_csv(out / "truth" / "causal_variants.tsv", sep="\t")
    top = bed.set_index("variant_id").loc[causal["variant_id"], "neg_log10_p"]
    assert (top > 1).all() and top.max() > 4  # n = 400: one planted locus is clear
    if model == "genotypic":
        assert bed["note"].str.contains("empty genotype class").sum() > 0


def test_info_filters_only_variants_that_carry_dosages():
    """In a block with dosages, a hard-called variant (every dosage an integer) is not
    INFO-filtered even when its MACH R2 is low (everyone heterozygous: no dosage variance)."""
    from regwas.associate.gwas.qc import genotype_counts
    from regwas.associate.gwas.shards import _qc
    from regwas.io.genotypes import hard_calls

    rng = np.random.default_rng(2)
    n = 200
    imputed = np.clip(rng.normal(0.4, 0.05, n), 0, 2)  # INFO ~ 0: imputed, uncertain
    all_het = np.ones(n)  # hard calls only; MACH R2 = 0 (no variance)
    D = np.vstack([imputed, all_het])
    counts = genotype_counts(hard_calls(D), D)
    assert counts.dosage.uncertain.tolist() == [True, False]
    assert (counts.dosage.info < 0.3).all()
    cfg = {"min_call_rate": 0, "min_maf": 0, "min_mac": 0, "min_info": 0.3, "hwe_p": 0}
    keep, stats = _qc(counts, n, cfg)
    assert keep.tolist() == [False, True] and stats["fail_info"] == 1

"""Latent GWAS against plink2 (--glm, --freq/--hardy/--missing filters) and on real 1000 Genomes
genotypes (bolt-lmm-example: 379 EUR samples, chr17-22) through the `regwas gwas` CLI."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_gwas import covariate_table, simulate_genotypes, write_bed

from regwas.associate import gwas
from regwas.associate.gwas.qc import hwe_exact_p
from regwas.genetics import lambda_gc
from regwas.io.embeddings import write_embeddings
from regwas.io.plink import read_fam
from regwas.io.sumstats import SUMSTATS_COLUMNS, read_sumstats

PLINK2 = shutil.which("plink2")
BOLT = Path("/usr/share/doc/bolt-lmm/examples/examples.tar.xz")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (make system)")


def _plink2(*args: str) -> None:
    subprocess.run(
        [PLINK2, "--threads", "1", "--memory", "1000", *args],
        check=True,
        capture_output=True,
        text=True,
    )


@needs_plink2
def test_d1_equals_plink2_glm(tmp_path):
    """d = 1: F = T^2 and p equal plink2 --glm linear regression with covariates (to its printed
    precision); plink2's A1 (tested allele) is our effect_allele (ALT)."""
    rng = np.random.default_rng(12)
    n = 500
    ids = [f"s{i}" for i in range(n)]
    G = simulate_genotypes(rng, rng.uniform(0.02, 0.5, 40), n)
    cov = covariate_table(rng, ids)
    y = rng.normal(size=n) + 0.03 * cov["age"] + 0.5 * cov["PC1"] + 0.3 * G[3] - 0.4 * G[7]
    write_bed(tmp_path / "g", G, ids)
    write_embeddings(ids, y.to_numpy()[:, None], tmp_path / "e.parquet")
    yy = pd.read_parquet(tmp_path / "e.parquet")["z000"].to_numpy(float)
    pd.DataFrame({"#FID": ids, "IID": ids, "y": yy}).to_csv(
        tmp_path / "pheno.txt", sep="\t", index=False, float_format="%.17g"
    )
    cols = ["age", "sex_male", "PC1", "PC2"]
    cov.rename(columns={"sample_id": "IID"}).assign(**{"#FID": ids})[["#FID", "IID", *cols]].to_csv(
        tmp_path / "covar.txt", sep="\t", index=False, float_format="%.17g"
    )
    _plink2(
        "--bfile",
        str(tmp_path / "g"),
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
    cfg = {"min_maf": 0, "min_mac": 0, "hwe_p": 0}
    gwas.gwas_chromosome(
        tmp_path / "e.parquet",
        tmp_path / "g",
        tmp_path / "o.parquet",
        cfg,
        cov,
        covariate_columns=cols,
    )
    res = pd.read_parquet(tmp_path / "o.parquet").set_index("variant_id")
    assert len(res) == len(ref) == 40
    ref = ref.loc[res.index]
    assert (ref["A1"] == res["effect_allele"]).all() and (ref["ALT"] == res["effect_allele"]).all()
    np.testing.assert_allclose(res["f_stat"], ref["T_STAT"] ** 2, rtol=2e-5)
    np.testing.assert_allclose(res["p_value"], ref["P"], rtol=2e-5)
    assert (res["df2"] == n - 5 - 1).all()
    assert (np.sign(ref.loc[["v3", "v7"], "BETA"]) == [1, -1]).all()


@pytest.fixture(scope="module")
def kg(tmp_path_factory):
    """The 1000 Genomes EUR subset split into chr17..chr22 PLINK file sets."""
    if PLINK2 is None or not BOLT.exists():
        pytest.skip("plink2 or bolt-lmm-example (make system) not installed")
    tmp = tmp_path_factory.mktemp("kg")
    with tarfile.open(BOLT) as tar:
        for name in ("EUR_subset.bed", "EUR_subset.bim", "EUR_subset.fam"):
            tar.extract(name, tmp, filter="data")
    for c in range(17, 23):
        _plink2(
            "--bfile",
            str(tmp / "EUR_subset"),
            "--chr",
            str(c),
            "--make-bed",
            "--out",
            str(tmp / f"chr{c}"),
        )
    return tmp


@needs_plink2
def test_1000_genomes_cli(kg, tmp_path):
    """`regwas gwas` on real genotypes with random embeddings: documented columns, lambda GC
    sane, and exactly the variants that plink2's --geno/--maf/--mac/--hwe filters keep."""
    from regwas.cli import main

    fam = read_fam(kg / "EUR_subset.fam")
    rng = np.random.default_rng(17)
    write_embeddings(fam["iid"].tolist(), rng.normal(size=(len(fam), 8)), tmp_path / "e.parquet")
    out = tmp_path / "gwas.tsv.gz"
    rc = main(
        [
            "gwas",
            "--embeddings",
            str(tmp_path / "e.parquet"),
            "--bfile",
            str(kg / "chr{chrom}"),
            "--chromosomes",
            "17-22",
            "--threads",
            "1",
            "--out",
            str(out),
            "--lead-variants",
            str(tmp_path / "leads.tsv"),
        ]
    )
    assert rc == 0
    res = read_sumstats(out)
    assert list(res.columns) == SUMSTATS_COLUMNS
    assert set(res["chromosome"]) == {str(c) for c in range(17, 23)}
    assert 0.85 <= lambda_gc(res["neg_log10_p"]) <= 1.15
    assert (res["n"] <= len(fam)).all() and (res["df1"] == 8).all()
    _plink2(
        "--bfile",
        str(kg / "EUR_subset"),
        "--geno",
        "0.05",
        "--maf",
        "0.01",
        "--mac",
        "20",
        "--hwe",
        "1e-10",
        "--write-snplist",
        "--out",
        str(tmp_path / "qc"),
    )
    kept = pd.read_csv(tmp_path / "qc.snplist", header=None)[0].astype(str)
    assert len(res) == len(kept)
    assert set(res["variant_id"]) == set(kept)
    assert (tmp_path / "leads.tsv").exists()


@needs_plink2
def test_qc_statistics_equal_plink2(kg, tmp_path):
    """Allele frequencies, call counts and HWE exact p on real genotypes equal plink2
    --freq/--missing/--hardy (to printed precision)."""
    from regwas.associate.gwas.qc import genotype_counts
    from regwas.io.plink import BedReader

    _plink2(
        "--bfile", str(kg / "chr22"), "--freq", "--hardy", "--missing", "--out", str(tmp_path / "p")
    )
    freq = pd.read_csv(tmp_path / "p.afreq", sep="\t")
    hardy = pd.read_csv(tmp_path / "p.hardy", sep="\t")
    vmiss = pd.read_csv(tmp_path / "p.vmiss", sep="\t")
    with BedReader(kg / "chr22") as r:
        c = genotype_counts(r.read(0, r.n_variants))
        bim = r.bim
    np.testing.assert_allclose(c.alt_count / (2 * c.called), freq["ALT_FREQS"], rtol=1e-5)
    np.testing.assert_array_equal(c.miss, vmiss["MISSING_CT"])
    # plink2 --hardy reports A1 = REF here (.bim column 6): HOM_A1_CT = REF homozygotes
    assert (hardy["A1"].to_numpy() == bim["ref"].to_numpy()).all()
    np.testing.assert_array_equal(c.c0, hardy["HOM_A1_CT"])
    np.testing.assert_array_equal(c.c1, hardy["HET_A1_CT"])
    np.testing.assert_array_equal(c.c2, hardy["TWO_AX_CT"])
    p = hwe_exact_p(c.c1, c.c0, c.c2)
    np.testing.assert_allclose(p, hardy["P"], rtol=2e-5, atol=1e-300)

"""The simulator's chromosome X (simulate.genotypes.chrx): hemizygous men coded 0/2 as PLINK does,
the .fam sex from the samples table, men counted once by the MAF filter (checked with plink2
--freq), HWE among women, and autosomes and planted truth unchanged by adding X."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regwas.associate.gwas.qc import genotype_counts, hwe_exact_p
from regwas.io.atomic import sha256_file
from regwas.io.plink import BedReader, read_fam
from regwas.simulate.cohort import simulate

PLINK2 = shutil.which("plink2")
SEED = 5
CFG = {
    "n_samples": 400,
    "render": False,
    "modalities": ["ecg"],
    "genotypes": {"n_chromosomes": 2, "chromosome_length": 400_000, "chrx": True},
    "factors": {"names": {"ecg": ["a", "b"]}, "causal_per_factor": 2, "min_causal_distance": 0},
    "diseases": [{"icd10": "J45.9", "prevalence": 0.1}],
}


@pytest.fixture(scope="module")
def cohort_x(tmp_path_factory) -> Path:
    return simulate(CFG, SEED, tmp_path_factory.mktemp("x") / "sim")


def _read_all(prefix: Path) -> tuple[np.ndarray, pd.DataFrame]:
    with BedReader(prefix) as r:
        return r.read(0, r.n_variants), r.bim


def test_chrx_files_and_sex(cohort_x: Path) -> None:
    """chrX.* exists with .bim chromosome X; every .fam carries the samples table's sex; men
    have no heterozygous call on X (hemizygous, 0/2) while women do."""
    samples = pd.read_csv(cohort_x / "samples.tsv", sep="\t")
    expected = np.where(samples["sex"] == "M", "1", "2")
    for c in ("1", "2", "X"):
        fam = read_fam(cohort_x / "genotypes" / f"chr{c}.fam")
        assert (fam["iid"].to_numpy() == samples["sample_id"].to_numpy()).all()
        assert (fam["sex"].to_numpy() == expected).all()
    G, bim = _read_all(cohort_x / "genotypes" / "chrX")
    assert len(bim) > 50 and (bim["chromosome"] == "X").all()
    assert bim["variant_id"].str.startswith("X:").all()
    male = expected == "1"
    assert not (G[:, male] == 1).any()
    assert (G[:, ~male] == 1).any(axis=1).mean() > 0.9
    assert (G >= 0).all()


@pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (make system)")
def test_chrx_maf_counts_men_once(cohort_x: Path, tmp_path: Path) -> None:
    """plink2 --freq on chrX counts a man once (OBS_CT = 2 x women + men), and every written
    variant has a minor allele frequency >= simulate.genotypes.min_maf on that count."""
    prefix = cohort_x / "genotypes" / "chrX"
    subprocess.run(
        [PLINK2, "--threads", "1", "--bfile", str(prefix), "--freq", "--out", str(tmp_path / "f")],
        check=True,
        capture_output=True,
    )
    freq = pd.read_csv(tmp_path / "f.afreq", sep="\t")
    fam = read_fam(f"{prefix}.fam")
    n_men = int((fam["sex"] == "1").sum())
    assert (freq["OBS_CT"] == 2 * (len(fam) - n_men) + n_men).all()
    maf = np.minimum(freq["ALT_FREQS"], 1 - freq["ALT_FREQS"])
    assert maf.min() >= 0.01 - 1e-6


def test_chrx_in_hwe_among_women(cohort_x: Path) -> None:
    """The simulated X is in HWE among women (few variants below p = 1e-6, as expected under the
    null), while the pooled test over men and women rejects most common variants (the bug the
    female-only test fixes)."""
    G, _ = _read_all(cohort_x / "genotypes" / "chrX")
    male = read_fam(cohort_x / "genotypes" / "chrX.fam")["sex"].to_numpy() == "1"
    f = genotype_counts(G[:, ~male])
    p_women = hwe_exact_p(f.c1, f.c0, f.c2)
    c = genotype_counts(G)
    p_pooled = hwe_exact_p(c.c1, c.c0, c.c2)
    common = np.minimum(c.alt_count, 2 * c.called - c.alt_count) / (2 * c.called) > 0.1
    assert (p_women < 1e-6).mean() < 0.01
    assert (p_pooled[common] < 1e-6).mean() > 0.9


def test_chrx_leaves_autosomes_and_truth_unchanged(cohort_x: Path, tmp_path: Path) -> None:
    """No causal variant on X, and the autosomes, samples and truth are byte-identical to a run
    of the same seed without X (X has its own seeds)."""
    causal = pd.read_csv(cohort_x / "truth" / "causal_variants.tsv", sep="\t", dtype=str)
    assert len(causal) == 4 and "X" not in set(causal["chromosome"])
    cfg = {**CFG, "genotypes": {**CFG["genotypes"], "chrx": False}}
    plain = simulate(cfg, SEED, tmp_path / "plain")
    assert not (plain / "genotypes" / "chrX.bed").exists()
    for rel in (
        "genotypes/chr1.bed",
        "genotypes/chr2.bim",
        "samples.tsv",
        "truth/causal_variants.tsv",
        "truth/factors.tsv",
        "diagnoses.tsv",
    ):
        assert sha256_file(plain / rel) == sha256_file(cohort_x / rel), rel


def test_gwas_keeps_the_simulated_x(cohort_x: Path, tmp_path: Path) -> None:
    """With the default QC (HWE p >= 1e-10, MAF >= 1%, MAC >= 20) the GWAS keeps nearly every
    common simulated X variant (the pooled HWE test used to drop every common one), and under null embeddings the
    p-values are not inflated."""
    from regwas.associate import gwas
    from regwas.io.embeddings import write_embeddings

    samples = pd.read_csv(cohort_x / "samples.tsv", sep="\t")
    rng = np.random.default_rng(0)
    write_embeddings(
        samples["sample_id"].tolist(), rng.normal(size=(len(samples), 4)), tmp_path / "e.parquet"
    )
    cov = samples[["sample_id", "age"]].assign(sex_male=(samples["sex"] == "M").astype(int))
    counts = gwas.gwas_chromosome(
        tmp_path / "e.parquet",
        cohort_x / "genotypes" / "chrX",
        tmp_path / "x.parquet",
        {"hwe_groups": "none"},
        cov,
        covariate_columns=["age", "sex_male"],
    )
    assert counts["fail_hwe"] <= 0.01 * counts["n_variants_in"]
    common = counts["n_variants_in"] - counts["fail_maf"] - counts["fail_mac"]  # MAC >= 20
    assert counts["n_tested"] >= 0.95 * common > 0
    assert counts["n_covariate_columns"] == 3  # intercept, age, sex (once)
    res = pd.read_parquet(tmp_path / "x.parquet")
    assert 0.2 < res["p_value"].median() < 0.8

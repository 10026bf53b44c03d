"""One covariate set: what adjust removes from the embeddings the GWAS partials out of the
genotypes (and counts in the degrees of freedom); the GWAS refuses a set that misses one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from regwas.adjust.confounders import adjust_file
from regwas.associate import gwas
from regwas.config import defaults
from regwas.errors import InputError
from regwas.genetics import lambda_gc
from regwas.io.embeddings import read_embeddings, write_embeddings
from regwas.simulate.phenotypes import ancestry_sites


def write_bed(prefix, G, ids) -> None:
    """ALT counts (variants x samples) as a PLINK 1 file set on chromosome 1."""
    from bed_reader import to_bed

    m = len(G)
    props = {
        "fid": ids,
        "iid": ids,
        "sid": [f"v{i}" for i in range(m)],
        "chromosome": ["1"] * m,
        "bp_position": list(range(1000, 1000 * (m + 1), 1000)),
        "allele_1": ["A"] * m,
        "allele_2": ["G"] * m,
    }
    to_bed(f"{prefix}.bed", G.T.astype(np.float32), properties=props, count_A1=True)


N, M, D = 1500, 12000, 4
LOOSE = {"min_maf": 0.01, "min_mac": 5, "hwe_p": 0.0}


@pytest.fixture(scope="module")
def site_cohort(tmp_path_factory):
    """Null embeddings with site effects; allele frequencies differ by site (3 sites)."""
    tmp = tmp_path_factory.mktemp("siteaf")
    rng = np.random.default_rng(8)
    ids = [f"s{i:05d}" for i in range(N)]
    site = rng.integers(0, 3, N)
    base = rng.uniform(0.1, 0.5, M)
    freqs = np.clip(base[:, None] + rng.normal(0, 0.12, (M, 3)), 0.02, 0.98)  # per site
    G = rng.binomial(2, freqs[:, site]).astype(np.int8)
    write_bed(tmp / "g", G, ids)
    samples = pd.DataFrame(
        {
            "sample_id": ids,
            "age": rng.normal(60, 7, N).round(1),
            "sex": rng.choice(["F", "M"], N),
            "site": [f"site{k + 1}" for k in site],
        }
    )
    samples.to_csv(tmp / "samples.tsv", sep="\t", index=False)
    z = rng.normal(size=(N, D)) + 0.8 * site[:, None] * rng.normal(size=D)  # site, no genetics
    write_embeddings(ids, z, tmp / "e.parquet")
    adjust_file(tmp / "e.parquet", tmp / "samples.tsv", tmp / "adj.parquet", {}, 0, None, COLS)
    return {"tmp": tmp, "samples": samples, "ids": ids}


COLS = ["age", "sex", "site"]


def _lambda(path) -> float:
    return lambda_gc(pd.read_parquet(path)["neg_log10_p"].to_numpy())


def test_null_embeddings_with_site_dependent_frequencies_lambda_one(site_cohort):
    """adjust removed site; the GWAS partials site out of the genotypes too: lambda GC ~ 1.
    Removing it from the latents only (the old split of adjust / gwas covariates) deflates."""
    tmp, samples = site_cohort["tmp"], site_cohort["samples"]
    out = tmp / "one_set.parquet"
    counts = gwas.gwas_chromosome(
        tmp / "adj.parquet", tmp / "g", out, LOOSE, samples, covariate_columns=COLS
    )
    lam = _lambda(out)
    assert counts["n_tested"] > 0.9 * M
    assert counts["n_covariate_columns"] == 1 + 1 + 1 + 2  # intercept, age, sex[M], 2 sites
    assert 0.95 <= lam <= 1.05, lam  # measured 1.03
    assert (pd.read_parquet(out)["df2"] == N - 5 - D).all()  # k counted in the df
    # the same latents without the metadata, site left out of the genotypes: deflated
    ids, z, _ = read_embeddings(tmp / "adj.parquet")
    write_embeddings(ids, z, tmp / "bare.parquet")
    gwas.gwas_chromosome(
        tmp / "bare.parquet",
        tmp / "g",
        tmp / "latents_only.parquet",
        LOOSE,
        samples,
        covariate_columns=["age", "sex"],
    )
    assert _lambda(tmp / "latents_only.parquet") < 0.9  # measured 0.82


def test_gwas_refuses_covariates_adjust_removed_but_it_does_not(site_cohort):
    tmp, samples = site_cohort["tmp"], site_cohort["samples"]
    with pytest.raises(InputError, match=r"adjust removed \['site'\]"):
        gwas.gwas_chromosome(
            tmp / "adj.parquet",
            tmp / "g",
            tmp / "x.parquet",
            LOOSE,
            samples,
            covariate_columns=["age", "sex"],
        )
    with pytest.raises(InputError, match="adjust removed"):  # no covariates table at all
        gwas.gwas_chromosome(tmp / "adj.parquet", tmp / "g", tmp / "x.parquet", LOOSE)
    assert not (tmp / "x.parquet").exists()


def test_one_covariate_set_in_the_config():
    """One top-level key; adjust, gwas and phewas keep none of their own."""
    assert "site" in defaults("covariates") and "sex" in defaults("covariates")
    for name in ("adjust", "gwas", "phewas"):
        assert "covariates" not in defaults(name)


def test_site_depends_on_ancestry():
    """simulate.site_ancestry: group i attends site (i mod K) + 1 with that probability."""
    rng = np.random.default_rng(0)
    pop = np.repeat([0, 1, 2], 4000)
    sites = np.array(ancestry_sites(pop, 3, 0.6, rng))
    for g in range(3):
        share = np.mean(sites[pop == g] == f"site{g + 1}")
        assert abs(share - (0.6 + 0.4 / 3)) < 0.03
    even = np.array(ancestry_sites(pop, 3, 0.0, rng))
    assert abs(np.mean(even[pop == 0] == "site1") - 1 / 3) < 0.03

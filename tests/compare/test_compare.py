"""Scoring lead loci and PheWAS hits against planted truth."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regwas.compare.spaces import count_loci, lambda_outside, recovered_diseases, recovered_loci


def test_recovered_loci_counts_hits_misses_and_false_loci():
    causal = pd.DataFrame(
        {"chromosome": ["1", "1", "2"], "position": [1_000_000, 5_000_000, 300_000]}
    )
    leads = pd.DataFrame(
        {
            "chromosome": ["1", "2", "3", "1"],
            "base_pair_location": [1_200_000, 320_000, 100, 5_000_000],
            "p_value": [1e-10, 1e-9, 1e-12, 1e-3],  # the last is not significant
        }
    )
    # window 250 kb: chr1:1.2M hits 1.0M, chr2:320k hits 300k; chr3 is false; 5M lead is not sig
    assert recovered_loci(leads, causal, 250, 5e-8) == (2, 3, 1)
    # a 100 kb window misses the chr1 locus (200 kb away), which then counts as false
    assert recovered_loci(leads, causal, 100, 5e-8) == (1, 3, 2)
    # same position on another chromosome is not a hit
    other = causal.assign(chromosome=["9", "9", "9"])
    assert recovered_loci(leads, other, 250, 5e-8) == (0, 3, 3)


def test_leads_sharing_a_locus_count_once():
    causal = pd.DataFrame({"chromosome": ["1"], "position": [1_000_000]})
    leads = pd.DataFrame(
        {
            "chromosome": ["1", "1", "2", "2"],
            "base_pair_location": [1_000_100, 1_300_000, 50_000, 60_000],
            "p_value": [1e-20, 1e-9, 1e-9, 1e-8],
            "locus": [1, 1, 2, 2],  # two LD-independent leads in each of two loci
        }
    )
    assert recovered_loci(leads, causal, 500, 5e-8) == (1, 1, 1)  # chr2's locus counts once
    # with a 250 kb window the chr1 lead 300 kb away is a false signal, although it shares
    # the true lead's locus
    assert recovered_loci(leads, causal, 250, 5e-8) == (1, 1, 2)
    assert count_loci(leads, 5e-8) == 2
    assert count_loci(leads.drop(columns="locus"), 5e-8) == 4


def test_one_window_a_lead_300kb_from_a_causal_is_recovered_not_false():
    """The issue's first case: with the 250 kb compare window and 500 kb clumping, a lead
    300 kb from a causal variant counted as missed AND false. One window (the clumping one)."""
    causal = pd.DataFrame({"chromosome": ["1"], "position": [1_000_000]})
    leads = pd.DataFrame(
        {"chromosome": ["1"], "base_pair_location": [1_300_000], "p_value": [1e-12], "locus": [1]}
    )
    assert recovered_loci(leads, causal, 500, 5e-8) == (1, 1, 0)


def _bed(prefix, G, ids):
    from bed_reader import to_bed

    m = len(G)
    props = {
        "fid": ids,
        "iid": ids,
        "sid": [f"v{i}" for i in range(m)],
        "chromosome": ["1"] * m,
        "bp_position": [1_000_000, 1_450_000, 1_460_000][:m],
        "allele_1": ["A"] * m,
        "allele_2": ["G"] * m,
    }
    to_bed(f"{prefix}.bed", G.T.astype(np.float32), properties=props, count_A1=True)


def test_independent_spurious_lead_near_a_true_one_counts_as_false(tmp_path):
    """The issue's second case: a spurious lead 450 kb from the true one shares its locus and
    was never counted. With genotypes it is false when independent (r² with the true lead
    below the clumping r²) and true when it tags the same signal; without genotypes distance
    decides (it is within the window: true)."""
    from regwas.compare.spaces import LD

    rng = np.random.default_rng(3)
    n = 2000
    g0 = rng.binomial(2, 0.3, n)
    independent = rng.binomial(2, 0.4, n)
    tagging = np.where(rng.random(n) < 0.9, g0, rng.binomial(2, 0.3, n))
    ids = [f"s{i}" for i in range(n)]
    _bed(tmp_path / "chr1", np.vstack([g0, independent, tagging]).astype(np.int8), ids)
    ld = LD(str(tmp_path / "chr{chrom}"))
    assert ld("1", "v0", "v1") < 0.01 and ld("1", "v0", "v2") > 0.5
    assert ld("1", "v0", "v0") == pytest.approx(1.0)
    causal = pd.DataFrame({"chromosome": ["1"], "position": [1_000_000]})
    for spurious, pos, want_false in (("v1", 1_450_000, 1), ("v2", 1_460_000, 0)):
        leads = pd.DataFrame(
            {
                "chromosome": ["1", "1"],
                "base_pair_location": [1_000_000, pos],
                "variant_id": ["v0", spurious],
                "p_value": [1e-30, 1e-9],
                "locus": [1, 1],
            }
        )
        assert recovered_loci(leads, causal, 500, 5e-8, 0.1, ld) == (1, 1, want_false)
        assert recovered_loci(leads, causal, 500, 5e-8) == (1, 1, 0)  # distance only
    # beyond the window it is false by distance whatever its LD
    far = pd.DataFrame(
        {
            "chromosome": ["1", "1"],
            "base_pair_location": [1_000_000, 1_460_000],
            "variant_id": ["v0", "v2"],
            "p_value": [1e-30, 1e-9],
            "locus": [1, 1],
        }
    )
    assert recovered_loci(far, causal, 400, 5e-8, 0.1, ld) == (1, 1, 1)


def test_recovered_diseases_uses_planted_links_only():
    diseases = pd.DataFrame(
        {
            "icd10": ["I44.7", "G30.1", "J45.9"],
            "phecodes": ["CV_416.2", "NS_324.1;NS_324", None],
            "log_odds_ratio": ["0.8", "0.9", "0"],
        }
    )
    phewas = pd.DataFrame(
        {"phecode": ["CV_416.2", "NS_324", "RE_475"], "significant": [True, True, True]}
    )
    assert recovered_diseases(phewas, diseases) == (2, 2)
    phewas.loc[0, "significant"] = False
    assert recovered_diseases(phewas, diseases) == (1, 2)


def test_lambda_outside_causal_regions_ignores_the_signal_near_them():
    rng = np.random.default_rng(0)
    n = 20000
    pos = np.arange(n) * 1000
    p = rng.uniform(size=n)
    near = np.abs(pos - 5_000_000) <= 500_000
    p[near] = p[near] ** 20  # strong signal in LD around a causal variant at 5 Mb
    gwas = pd.DataFrame({"chromosome": "1", "base_pair_location": pos, "neg_log10_p": -np.log10(p)})
    causal = pd.DataFrame({"chromosome": ["1"], "position": [5_000_000]})
    lam, kept = lambda_outside(gwas, causal, 500)
    assert kept == n - near.sum()
    reference = np.median(stats.chi2.isf(p[~near], 1)) / stats.chi2.ppf(0.5, 1)
    assert abs(lam - reference) < 1e-9 and 0.95 < lam < 1.05
    full = np.median(stats.chi2.isf(p, 1)) / stats.chi2.ppf(0.5, 1)
    assert full > 1.1  # the full lambda is inflated by the signal


def _space_files(root, name: str, lead_chrom: str, fold_shift: list[float]) -> dict:
    """The five per-space files compare reads, written under an arbitrary folder."""
    d = root / name
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps({"n_variants": 3, "lambda_gc": 1.02}))
    pd.DataFrame(
        {
            "chromosome": [lead_chrom],
            "base_pair_location": [1_000_050],
            "p_value": [1e-12],
            "locus": [1],
        }
    ).to_csv(d / "leads.tsv", sep="\t", index=False)
    pd.DataFrame(
        {
            "chromosome": ["1", "1", "5"],
            "base_pair_location": [1_000_050, 9_000_000, 9_000_000],
            "neg_log10_p": [12.0, 0.3, 0.2],
        }
    ).to_csv(d / "gwas.tsv.gz", sep="\t", index=False)
    pd.DataFrame({"phecode": ["CV_416.2"], "significant": [True]}).to_csv(
        d / "phewas.tsv", sep="\t", index=False
    )
    folds = np.array([0.30, 0.32, 0.28]) + np.array(fold_shift)
    pd.DataFrame(
        {
            "phenotype": ["qt"],
            "metric": ["r2"],
            **{f"fold_{i + 1}": [v] for i, v in enumerate(folds)},
            "mean": [folds.mean()],
            "folds_digest": ["abc"],
        }
    ).to_csv(d / "probes.tsv", sep="\t", index=False)
    return {
        "summary": d / "summary.json",
        "leads": d / "leads.tsv",
        "gwas": d / "gwas.tsv.gz",
        "phewas": d / "phewas.tsv",
        "probes": d / "probes.tsv",
    }


def test_compare_spaces_reads_the_given_files_and_counts_analysed_chromosomes(tmp_path):
    """compare_spaces reads exactly the files it is given (no results/ layout of its own), one
    row per space in the given order; causal_total counts only causal variants on the analysed
    chromosomes (chr5's cannot be recovered when only chr1 was tested)."""
    from regwas.compare.spaces import compare_spaces

    files = {
        "ecg": {
            "native": _space_files(tmp_path / "a", "x", "1", [0, 0, 0]),
            "median_beat": _space_files(tmp_path / "b", "y", "1", [0.1, 0.05, 0.15]),
        }
    }
    causal = tmp_path / "causal.tsv"
    pd.DataFrame(
        {
            "modality": ["ecg", "ecg", "brain"],
            "chromosome": ["1", "5", "1"],
            "position": [1_000_000, 2_000_000, 5_000_000],
        }
    ).to_csv(causal, sep="\t", index=False)
    table, probes = compare_spaces(files, causal_path=causal, chromosomes=["1"])
    assert list(table["space"]) == ["native", "median_beat"]
    assert list(table["causal_total"]) == [1, 1] and list(table["causal_recovered"]) == [1, 1]
    assert list(table["false_loci"]) == [0, 0] and list(table["lead_loci"]) == [1, 1]
    assert list(table["n_variants"]) == [3, 3] and list(table["phewas_hits"]) == [1, 1]
    assert list(probes["space"]) == ["median_beat"]
    assert probes.loc[0, "mean_diff"] == pytest.approx(0.1)
    everything, _ = compare_spaces(files, causal_path=causal)
    assert list(everything["causal_total"]) == [2, 2]  # no chromosome list: every causal variant


def test_two_methods_are_compared_within_each_method(tmp_path):
    """With represent.baseline, each space has an analysis per method (native, native.pca):
    one row per space and method, the method read from the embeddings' metadata, and each
    registered analysis paired with the native analysis of its own method. Fold scores are
    chosen so that any pairing across methods gives other differences; the expected ones are
    computed directly (mean fold difference, scipy's paired t-test)."""
    from regwas.compare.spaces import compare_spaces
    from regwas.io.analysis import split_analysis
    from regwas.io.embeddings import write_embeddings

    shifts = {
        "native": [0.0, 0.0, 0.0],
        "median_beat": [0.10, 0.05, 0.15],
        "dropfuse": [0.02, 0.03, -0.01],
        "native.pca": [0.20, 0.22, 0.21],
        "median_beat.pca": [0.25, 0.20, 0.30],
    }
    methods = {
        "native": "autoencoder",
        "median_beat": "autoencoder",
        "dropfuse": "dropfuse",
        "native.pca": "pca",
        "median_beat.pca": "pca",
    }
    files = {"ecg": {}}
    for analysis, shift in shifts.items():
        f = _space_files(tmp_path, analysis, "1", shift)
        f["embeddings"] = tmp_path / analysis / "embeddings.parquet"
        write_embeddings(
            ["s1", "s2"], np.zeros((2, 2)), f["embeddings"], {"method": methods[analysis]}
        )
        files["ecg"][analysis] = f
    table, probes = compare_spaces(files)
    assert list(table["space"]) == [split_analysis(a)[0] for a in shifts]
    assert list(table["space"]) == ["native", "median_beat", "dropfuse", "native", "median_beat"]
    assert list(table["method"]) == list(methods.values())
    assert list(table["analysis"]) == list(shifts)
    base = np.array([0.30, 0.32, 0.28])
    expected = {  # registered analysis -> its native: the same method (DropFuse: the primary's)
        "median_beat": "native",
        "dropfuse": "native",
        "median_beat.pca": "native.pca",
    }
    assert list(probes["analysis"]) == list(expected)
    assert list(probes["space"]) == ["median_beat", "dropfuse", "median_beat"]
    assert list(probes["method"]) == ["autoencoder", "dropfuse", "pca"]
    for row in probes.itertuples():
        reg = base + np.array(shifts[row.analysis])
        nat = base + np.array(shifts[expected[row.analysis]])
        assert row.mean_diff == pytest.approx(float(np.mean(reg - nat)))
        assert row.mean_native == pytest.approx(float(nat.mean()))
        assert row.p_paired == pytest.approx(float(stats.ttest_rel(reg, nat).pvalue))
    # without embeddings the method is the analysis name's suffix (or unknown: "")
    for f in files["ecg"].values():
        del f["embeddings"]
    table, _ = compare_spaces(files)
    assert list(table["method"]) == ["", "", "", "pca", "pca"]

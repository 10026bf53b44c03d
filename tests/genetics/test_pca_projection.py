"""Genetic PCs fitted on a subset (the unrelated) with the others projected, against a direct
numpy SVD; long-range LD regions by genome build."""

import numpy as np
import pandas as pd
import pytest

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.genetics.pca import compute_pcs, in_regions, long_range_ld_regions
from regwas.simulate.genotypes import write_bed


def _write(tmp_path, G, chrom="6", positions=None):
    n, m = G.shape
    positions = np.arange(1, m + 1) * 1000 if positions is None else positions
    bim = pd.DataFrame(
        {
            "chromosome": chrom,
            "variant_id": [f"{chrom}:{p}" for p in positions],
            "cm": 0.0,
            "position": positions,
            "alt": "A",
            "ref": "G",
        }
    )
    ids = [f"P{i:03d}" for i in range(n)]
    data = np.where(G == -9, np.nan, G).astype(np.float32)
    write_bed(tmp_path / f"chr{chrom}", data, bim, ids, np.ones(n, dtype=int))
    return {chrom: str(tmp_path / f"chr{chrom}")}


def _structured(seed=0, n=120, m=400):
    rng = np.random.default_rng(seed)
    pop = rng.integers(0, 3, n)
    base = rng.uniform(0.1, 0.9, m)
    freq = np.clip(base + rng.normal(0, 0.15, (3, m)), 0.05, 0.95)[pop]
    G = rng.binomial(2, freq).astype(np.int8)
    G[rng.random(G.shape) < 0.005] = -9
    return G


def _z(G, mean, sd):
    Z = (G.astype(float) - mean) / sd
    return np.where(G == -9, 0.0, Z)


def test_unrelated_pcs_and_projection_equal_a_direct_svd(tmp_path):
    G = _structured()
    prefixes = _write(tmp_path, G)
    fit = np.ones(len(G), dtype=bool)
    fit[::7] = False  # 18 people projected
    cfg = section(
        "cohort_qc.pca", {"n_pcs": 4, "prune": "none", "min_maf": 0.01, "min_call_rate": 0.9}
    )
    scores, table, used = compute_pcs(prefixes, np.arange(len(G)), cfg, seed=1, fit=fit)
    assert len(used) == G.shape[1]
    assert (table["n_fit"] == fit.sum()).all()
    # direct: moments and SVD of the fitted people only, projection x V / s
    F = G[fit]
    called = F != -9
    mean = np.where(called, F, 0).sum(0) / called.sum(0)
    sd = np.sqrt(np.where(called, (F - mean) ** 2, 0).sum(0) / called.sum(0))
    Zf = _z(F, mean, sd)
    U, S, Vt = np.linalg.svd(Zf, full_matrices=False)
    n_fit = fit.sum()
    want_fit = U[:, :4] * np.sqrt(n_fit)
    want_new = _z(G[~fit], mean, sd) @ Vt[:4].T / S[:4] * np.sqrt(n_fit)
    # the two structure PCs (three populations) are well separated from the noise ones, which
    # the randomized SVD resolves only approximately: compare those two exactly
    sign = np.sign(np.sum(scores[fit] * want_fit, axis=0))[:2]
    np.testing.assert_allclose(scores[fit][:, :2] * sign, want_fit[:, :2], atol=2e-4)
    np.testing.assert_allclose(scores[~fit][:, :2] * sign, want_new[:, :2], atol=2e-4)
    np.testing.assert_allclose(table["eigenvalue"][:2], S[:2] ** 2 / G.shape[1], rtol=1e-5)
    # fitting on everyone is the special case fit = all
    all_scores, _, _ = compute_pcs(prefixes, np.arange(len(G)), cfg, seed=1)
    U2, _, _ = np.linalg.svd(_z(G, *_moments(G)), full_matrices=False)
    r = [abs(np.corrcoef(all_scores[:, k], U2[:, k])[0, 1]) for k in range(2)]
    assert min(r) > 0.99999


def _moments(G):
    called = G != -9
    mean = np.where(called, G, 0).sum(0) / called.sum(0)
    sd = np.sqrt(np.where(called, (G - mean) ** 2, 0).sum(0) / called.sum(0))
    return mean, sd


def test_long_range_ld_regions_are_excluded_by_build(tmp_path):
    G = _structured(2, n=60, m=300)
    # chr6 positions 24.0 .. 35.96 Mb in 40 kb steps: the extended MHC is 25.39-33.39 Mb in
    # GRCh37 and 25.39-33.42 Mb in GRCh38 (Price et al. 2008 via plinkQC)
    positions = 24_000_000 + np.arange(300) * 40_000
    prefixes = _write(tmp_path, G, "6", positions)
    cfg = {"n_pcs": 2, "prune": "none", "min_maf": 0.01, "min_call_rate": 0.9}
    for build, (lo, hi) in {"GRCh37": (25392020, 33392022), "GRCh38": (25391792, 33424245)}.items():
        _, _, used = compute_pcs(
            prefixes, np.arange(60), section("cohort_qc.pca", {**cfg, "build": build}), 0
        )
        inside = (positions >= lo) & (positions <= hi)
        assert set(used["position"]) == set(positions[~inside])
    _, _, used = compute_pcs(prefixes, np.arange(60), section("cohort_qc.pca", cfg), 0)
    assert len(used) == 300  # no build: nothing excluded
    regions = long_range_ld_regions("GRCh37")
    assert len(regions) == 20 and (regions["end"] > regions["start"]).all()
    assert len(long_range_ld_regions("GRCh38")) == 43
    mask = in_regions(
        np.array(["chr8", "8", "2"]), np.array([8_000_000, 20_000_000, 87_000_000]), regions
    )
    assert mask.tolist() == [True, False, True]


def test_unknown_build_names_the_key():
    with pytest.raises(InputError, match=r"cohort_qc\.pca\.build: unknown genome build 'hg19'"):
        long_range_ld_regions("hg19")

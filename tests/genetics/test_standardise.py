"""Genotype moments, standardisation and LD r^2 against numpy's direct computations."""

import numpy as np

from regwas.genetics.standardise import genotype_moments, ld_r2, unit_rows, zscores
from regwas.io.plink import MISSING


def _genotypes(seed=0, m=6, n=400):
    rng = np.random.default_rng(seed)
    base = rng.binomial(2, 0.3, size=n)
    G = np.vstack(
        [np.where(rng.random(n) < 0.2 * k, rng.binomial(2, 0.4, n), base) for k in range(m)]
    )
    return G.astype(np.int8)


def test_moments_equal_numpy_and_ignore_missing_calls():
    G = _genotypes()
    G[1, :7] = MISSING
    mean, sd, call, maf = genotype_moments(G)
    for j in range(len(G)):
        called = G[j][G[j] != MISSING].astype(float)
        assert mean[j] == called.mean()
        np.testing.assert_allclose(sd[j], called.std(), rtol=1e-12)
        assert call[j] == len(called) / G.shape[1]
        assert maf[j] == min(called.mean() / 2, 1 - called.mean() / 2)


def test_both_standardisations_give_pearson_r2():
    G = _genotypes(1)
    r2 = np.corrcoef(G.astype(float)) ** 2
    np.testing.assert_allclose(ld_r2(unit_rows(G), unit_rows(G)), r2, atol=1e-12)
    mean, sd, _, _ = genotype_moments(G)
    np.testing.assert_allclose(
        ld_r2(zscores(G, mean, sd), zscores(G, mean, sd), G.shape[1]), r2, atol=1e-5
    )
    U = unit_rows(G)
    np.testing.assert_allclose(ld_r2(U, U[2]), r2[:, 2], atol=1e-12)


def test_missing_calls_are_mean_imputed_and_constant_rows_stay_zero():
    G = _genotypes(2)
    G[0] = 1
    G[3, :50] = MISSING
    U = unit_rows(G)
    assert not U[0].any()
    assert (U[3, :50] == 0).all()
    np.testing.assert_allclose(np.linalg.norm(U[1:], axis=1), 1.0)

"""Genotype moments, standardisation and LD r^2, shared by the genetic PCs and the LD
clumping of lead variants."""

from __future__ import annotations

import logging

import numpy as np

from regwas.io.plink import MISSING

log = logging.getLogger(__name__)


def genotype_moments(G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-variant (mean, sd, call rate, minor allele frequency) of int8 ALT counts."""
    called = G != MISSING
    n_called = called.sum(axis=1)
    g = np.where(called, G, np.int8(0))  # int8: sums below in int64, no float copies
    total = g.sum(axis=1, dtype=np.int64)
    total_sq = (g * g).sum(axis=1, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n_called
        var = total_sq / n_called - mean**2
    sd = np.sqrt(np.clip(np.nan_to_num(var), 0, None))
    freq = np.nan_to_num(mean / 2)
    maf = np.minimum(freq, 1 - freq)
    return np.nan_to_num(mean), sd, n_called / G.shape[1], maf


def zscores(G: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Standardised genotypes (float32), missing mean-imputed (= 0)."""
    Z = (G.astype(np.float32) - mean[:, None].astype(np.float32)) / sd[:, None].astype(np.float32)
    Z[G == MISSING] = 0.0
    return Z


def unit_rows(G: np.ndarray) -> np.ndarray:
    """Mean-imputed, centred genotypes scaled to unit norm (float64 rows); constant rows stay
    zero. The dot product of two rows is their LD correlation r."""
    mean = genotype_moments(G)[0]
    g = np.where(G == MISSING, 0.0, G.astype(np.float64) - mean[:, None])
    norm = np.linalg.norm(g, axis=1)
    return g / np.where(norm > 0, norm, 1.0)[:, None]


def ld_r2(A: np.ndarray, B: np.ndarray, n: float = 1.0) -> np.ndarray:
    """r^2 between the rows of A and of B (len(A) x len(B); B may be one row): standardised rows (``zscores``,
    ``n`` = samples) or unit-norm rows (``unit_rows``, ``n`` = 1)."""
    return (A @ B.T / n) ** 2

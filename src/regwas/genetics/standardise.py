"""Genotype standardisation shared by LD computations."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def standardise(G: np.ndarray) -> np.ndarray:
    """Mean-imputed, centred genotypes scaled to unit norm (rows); constant rows stay zero."""
    g = G.astype(np.float64)
    miss = G < 0
    g[miss] = 0.0
    called = (~miss).sum(axis=1)
    mean = g.sum(axis=1) / np.maximum(called, 1)
    g = np.where(miss, mean[:, None], g) - mean[:, None]
    norm = np.linalg.norm(g, axis=1)
    return g / np.where(norm > 0, norm, 1.0)[:, None]

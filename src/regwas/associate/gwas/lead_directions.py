"""Latent directions of lead variants (mean embedding per genotype class minus the
reference homozygotes) and their hierarchical clustering."""

from __future__ import annotations

import logging

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist

log = logging.getLogger(__name__)


def directions(G: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(het - refhom, althom - refhom mean embeddings, class counts) per variant; NaN if empty."""
    classes = [(G == c) for c in (0, 1, 2)]
    counts = np.stack([c.sum(axis=1) for c in classes], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = [(c.astype(np.float64) @ z) / c.sum(axis=1)[:, None] for c in classes]
    return means[1] - means[0], means[2] - means[0], counts


def cluster_directions(
    het: np.ndarray, hom: np.ndarray, max_distance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Average-linkage clustering (cosine distance) of [het, hom]; (cluster ids, linkage)."""
    het = np.where(np.isnan(het), hom / 2.0, het)
    hom = np.where(np.isnan(hom), 2.0 * het, hom)
    vec = np.hstack([het, hom])
    valid = np.isfinite(vec).all(axis=1) & (np.linalg.norm(np.nan_to_num(vec), axis=1) > 0)
    cluster = np.zeros(len(vec), dtype=np.int64)
    linkage = np.empty((0, 4))
    idx = np.flatnonzero(valid)
    if idx.size == 1:
        cluster[idx] = 1
    elif idx.size >= 2:
        linkage = hierarchy.linkage(pdist(vec[idx], metric="cosine"), method="average")
        cluster[idx] = hierarchy.fcluster(linkage, t=max_distance, criterion="distance")
    return cluster, linkage

"""Ancestry groups from genetic principal components, for tests that must not pool groups.

Hardy-Weinberg equilibrium holds within a randomly mating population, not across a mixture
of populations with different allele frequencies (the Wahlund effect): pooled over ancestry
groups, variants in perfect HWE within each group fail an HWE filter, and they are exactly the
differentiated variants that reveal stratification. The groups are found by a Gaussian mixture
on the leading PCs, with the number of groups chosen by BIC; the fit is seeded.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def ancestry_groups(
    pcs: np.ndarray, max_groups: int = 6, seed: int = 0, min_size: int = 50
) -> np.ndarray:
    """Integer group labels (0..g-1) of the rows of ``pcs`` (n x k genetic PCs).

    A Gaussian mixture (full covariance) is fitted for 1..``max_groups`` components on the
    standardised PCs; the number with the lowest BIC wins. Components with fewer than
    ``min_size`` people are merged into the nearest remaining one (by mean distance), so every
    group is large enough for a test.
    """
    from sklearn.mixture import GaussianMixture

    x = np.asarray(pcs, dtype=np.float64)
    n = len(x)
    if n < 2 * min_size or max_groups <= 1:
        return np.zeros(n, dtype=np.int64)
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    best, best_bic = None, np.inf
    for g in range(1, min(max_groups, n // min_size) + 1):
        model = GaussianMixture(g, covariance_type="full", random_state=seed, n_init=2)
        model.fit(x)
        bic = model.bic(x)
        if bic < best_bic:
            best, best_bic = model, bic
    labels = best.predict(x)
    means = best.means_
    while True:
        sizes = np.bincount(labels, minlength=len(means))
        small = [g for g in range(len(means)) if 0 < sizes[g] < min_size]
        if not small:
            break
        g = small[0]
        alive = [h for h in range(len(means)) if h != g and sizes[h] > 0]
        if not alive:
            break
        target = alive[int(np.argmin([np.linalg.norm(means[h] - means[g]) for h in alive]))]
        labels[labels == g] = target
    _, labels = np.unique(labels, return_inverse=True)
    log.info("ancestry groups from %d PCs: %s", x.shape[1], np.bincount(labels).tolist())
    return labels.astype(np.int64)

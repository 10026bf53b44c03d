"""Genetic principal components: variant selection (MAF, call rate, LD pruning or
thinning) and a seeded randomized SVD that streams int8 genotypes."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.errors import InputError
from regwas.genetics.standardise import genotype_moments, ld_r2, zscores
from regwas.io.genotypes import open_genotypes, read_genotype_rows, read_variant_table
from regwas.io.plink import MISSING
from regwas.linalg import streamed_randomized_svd

logger = logging.getLogger(__name__)


PRUNE_METHODS = ("ld", "thin", "none")
_CACHE_BYTES = 1 << 30  # the SVD keeps standardised genotypes in memory up to 1 GiB
_BLOCK_ELEMENTS = 1 << 25  # genotypes standardised at once in the SVD (128 MB of float32)


# --------------------------------------------------------------------------- PCA


class _LDPruner:
    """Greedy LD pruning that carries its window across blocks of one chromosome.

    A variant is kept when its r² with every kept variant among the previous
    ``window - 1`` candidates is below ``r2_max`` (plink's --indep-pairwise rule with step 1,
    the earlier variant of a pair kept). r is estimated from the standardised genotypes.
    """

    def __init__(self, r2_max: float, window: int, n_samples: int):
        self.r2_max = r2_max
        self.window = window
        self.n = n_samples
        self.prev_z = np.empty((0, n_samples), dtype=np.float32)
        self.prev_keep = np.empty(0, dtype=bool)

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        keep_all = np.empty(len(Z), dtype=bool)
        w = self.window
        for a in range(0, len(Z), w):
            chunk = Z[a : a + w]
            rows = np.vstack([self.prev_z, chunk])
            flags = np.concatenate([self.prev_keep, np.zeros(len(chunk), dtype=bool)])
            p0 = len(self.prev_z)
            r2 = ld_r2(rows, chunk, self.n)  # (p0 + c) x c
            for j in range(len(chunk)):
                pos = p0 + j
                lo = max(0, pos - w + 1)
                flags[pos] = not np.any(r2[lo:pos, j][flags[lo:pos]] >= self.r2_max)
            keep_all[a : a + len(chunk)] = flags[p0:]
            self.prev_z = rows[-(w - 1) :] if w > 1 else rows[:0]
            self.prev_keep = flags[-(w - 1) :] if w > 1 else flags[:0]
        return keep_all


def _thin(positions: np.ndarray, min_bp: int, last: float) -> tuple[np.ndarray, float]:
    """Keep a variant when it lies >= min_bp after the previously kept one (file order)."""
    keep = np.zeros(len(positions), dtype=bool)
    for i, pos in enumerate(positions):
        if pos - last >= min_bp:
            keep[i] = True
            last = pos
    return keep, last


def select_pca_variants(
    prefixes: dict[str, str], sample_index: np.ndarray, pca: dict, seed: int
) -> dict[str, np.ndarray]:
    """Indices (per chromosome) of common, well-called, pruned variants, capped at max_variants.

    Filters and LD are computed on at most ``qc_max_samples`` people (seeded subset) so that
    a pass over a biobank's variants stays cheap; the final filters are re-applied on all
    samples when the selected variants are read.
    """
    rng = np.random.default_rng(seed)
    sample_index = np.asarray(sample_index)
    if len(sample_index) > pca["qc_max_samples"]:
        qc_index = np.sort(rng.choice(sample_index, pca["qc_max_samples"], replace=False))
    else:
        qc_index = sample_index
    method = pca["prune"]
    selected: dict[str, np.ndarray] = {}
    n_pass = 0
    for chrom, prefix in prefixes.items():
        with open_genotypes(prefix, sample_index=qc_index) as reader:
            positions = reader.variants["position"].to_numpy()
            block = max(256, min(8192, _BLOCK_ELEMENTS // max(1, reader.n_samples)))
            pruner = _LDPruner(pca["ld_r2"], pca["ld_window"], reader.n_samples)
            last = -math.inf
            kept = []
            for start, _, G in tqdm(
                reader.blocks(block),
                total=math.ceil(reader.n_variants / block),
                desc=f"PCA variants chr{chrom}",
                disable=None,
            ):
                mean, sd, call, maf = genotype_moments(G)
                idx = np.flatnonzero(
                    (maf >= pca["min_maf"]) & (call >= pca["min_call_rate"]) & (sd > 0)
                )
                n_pass += len(idx)
                if method == "ld":
                    keep = pruner(zscores(G[idx], mean[idx], sd[idx]))
                elif method == "thin":
                    keep, last = _thin(positions[start + idx], pca["thin_bp"], last)
                else:
                    keep = np.ones(len(idx), dtype=bool)
                kept.append(start + idx[keep])
            selected[chrom] = np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)
    total = sum(len(v) for v in selected.values())
    logger.info(
        "PCA variants: %d pass MAF >= %g and call rate >= %g (on %d samples); %d after %s pruning",
        n_pass,
        pca["min_maf"],
        pca["min_call_rate"],
        len(qc_index),
        total,
        method,
    )
    if total > pca["max_variants"]:
        pick = np.zeros(total, dtype=bool)
        pick[rng.choice(total, pca["max_variants"], replace=False)] = True
        offsets = np.cumsum([0] + [len(v) for v in selected.values()])
        selected = {
            c: v[pick[offsets[i] : offsets[i + 1]]] for i, (c, v) in enumerate(selected.items())
        }
        logger.info("PCA variants: random subset of %d (pca.max_variants)", pca["max_variants"])
    return selected


def randomized_pca(
    G: np.ndarray,
    mean: np.ndarray,
    sd: np.ndarray,
    k: int,
    seed: int,
    n_iter: int = 7,
    n_oversamples: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k left singular vectors and values of the standardised samples x variants matrix.

    Halko et al.'s randomized SVD (as sklearn's randomized_svd: Gaussian sketch, QR-normalised
    power iterations) applied without materialising the matrix: int8 genotypes ``G``
    (variants x samples) are standardised block by block, missing = 0. Seeded.
    """
    m, n = G.shape
    step = max(1, _BLOCK_ELEMENTS // n)
    inv = (1.0 / sd).astype(np.float32)
    mu = mean.astype(np.float32)

    cached = None
    if m * n * 4 <= _CACHE_BYTES:  # standardise once when the float32 matrix is small
        cached = zscores(G, mean, sd)

    def blocks():
        if cached is not None:
            yield 0, m, cached
            return
        for a in range(0, m, step):
            b = min(a + step, m)
            Z = (G[a:b].astype(np.float32) - mu[a:b, None]) * inv[a:b, None]
            Z[G[a:b] == MISSING] = 0.0
            yield a, b, Z

    return streamed_randomized_svd(
        blocks, (m, n), k, seed, n_iter, n_oversamples, desc="randomized PCA"
    )


def compute_pcs(
    prefixes: dict[str, str],
    sample_index: np.ndarray,
    pca: dict,
    seed: int,
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Genetic PCs of the samples at ``sample_index`` (.fam positions, in that order).

    Returns (scores n x k: sqrt(n) * left singular vectors, so each PC has mean 0 and
    variance 1; table component/eigenvalue/variance_explained/n_variants; the variants used:
    chromosome, variant_id, position). Eigenvalues are those of the genetic relationship
    matrix X X'/m of the standardised genotypes X (n x m), as plink2 --pca reports them.
    """
    k = int(pca["n_pcs"])
    selected = select_pca_variants(prefixes, sample_index, pca, seed)
    blocks, used = [], []
    for chrom, index in selected.items():
        if not len(index):
            continue
        G = read_genotype_rows(prefixes[chrom], index, sample_index)
        mean, sd, call, maf = genotype_moments(G)
        ok = (maf >= pca["min_maf"]) & (call >= pca["min_call_rate"]) & (sd > 0)
        blocks.append((G[ok], mean[ok], sd[ok], call[ok]))
        b = read_variant_table(prefixes[chrom]).iloc[index[ok]]
        used.append(b[["chromosome", "variant_id", "position"]])
    m = sum(len(b[0]) for b in blocks)
    n = len(sample_index)
    if m <= k or n <= k:
        raise InputError(
            f"genetic PCA: {m} variants pass the filters for {n} samples, too few for "
            f"cohort_qc.pca.n_pcs = {k} (lower pca.min_maf / pca.ld_r2 or pca.n_pcs)"
        )
    G = np.concatenate([b[0] for b in blocks])
    mean = np.concatenate([b[1] for b in blocks])
    sd = np.concatenate([b[2] for b in blocks])
    total_ss = float(np.concatenate([b[3] for b in blocks]).sum() * n)  # sum of z^2
    del blocks
    logger.info("genetic PCA: %d variants x %d samples, %d PCs", m, n, k)
    U, S = randomized_pca(G, mean, sd, k, seed, pca["n_iter"], pca["n_oversamples"])
    table = pd.DataFrame(
        {
            "component": [f"PC{i + 1}" for i in range(k)],
            "eigenvalue": S**2 / m,
            "variance_explained": S**2 / total_ss,
            "n_variants": m,
        }
    )
    return U * math.sqrt(n), table, pd.concat(used, ignore_index=True)

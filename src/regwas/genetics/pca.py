"""Genetic principal components: variant selection (long-range LD regions excluded, MAF, call
rate, LD pruning or thinning) and a seeded randomized SVD that streams int8 genotypes; PCs
are fitted on one set of people (the unrelated) and the others are projected onto them.

Long-range LD regions (Price et al. 2008, AJHG 83:132; the extended MHC, the chr8 inversion,
...) carry PCs of their own that reflect local haplotypes, not ancestry; they are removed
before pruning, for the genome build named by ``cohort_qc.pca.build`` (tables in
``regwas/genetics/data``, sources in their headers).

Projected scores (people outside the fitted set) shrink towards 0 when variants outnumber the
fitted people (Lee, Zou & Wright 2010, PLoS Genet 6:e1001097): they are unbiased in direction
but on a smaller scale than the fitted scores, the more so for later PCs. The cohort stage
projects only the relatives it removed from the analyses, so no test mixes the two scales."""

from __future__ import annotations

import logging
import math
from importlib import resources

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.errors import InputError
from regwas.genetics.chromosomes import normalise_chromosome
from regwas.genetics.standardise import genotype_moments, ld_r2, zscores
from regwas.io.genotypes import open_genotypes, read_genotype_rows, read_variant_table
from regwas.io.plink import MISSING
from regwas.linalg import streamed_randomized_svd

logger = logging.getLogger(__name__)


PRUNE_METHODS = ("ld", "thin", "none")
GENOME_BUILDS = ("GRCh37", "GRCh38")
_CACHE_BYTES = 1 << 30  # the SVD keeps standardised genotypes in memory up to 1 GiB
_BLOCK_ELEMENTS = 1 << 25  # genotypes standardised at once in the SVD (128 MB of float32)


# --------------------------------------------------------------------------- LD regions


def long_range_ld_regions(build: str, key: str = "cohort_qc.pca.build") -> pd.DataFrame:
    """The long-range LD regions of genome ``build`` (chromosome, start, end, region);
    InputError naming ``key`` for an unknown build."""
    if build not in GENOME_BUILDS:
        raise InputError(
            f"{key}: unknown genome build {build!r}; one of {', '.join(GENOME_BUILDS)} "
            "(or null: no long-range LD exclusion)"
        )
    path = resources.files("regwas.genetics") / "data" / f"long_range_ld_{build}.tsv"
    with resources.as_file(path) as f:
        table = pd.read_csv(f, sep="\t", comment="#", dtype={"chromosome": str})
    table["chromosome"] = table["chromosome"].map(normalise_chromosome)
    return table


def in_regions(chromosomes: np.ndarray, positions: np.ndarray, regions: pd.DataFrame) -> np.ndarray:
    """Whether each variant (chromosome, position) lies in one of ``regions`` (ends included)."""
    positions = np.asarray(positions)
    names = pd.Series(np.asarray(chromosomes, dtype=object)).astype(str)
    chroms = names.map({c: normalise_chromosome(c) for c in names.unique()}).to_numpy()
    out = np.zeros(len(positions), dtype=bool)
    for c, start, end in zip(regions["chromosome"], regions["start"], regions["end"], strict=True):
        out |= (chroms == c) & (positions >= start) & (positions <= end)
    return out


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
    build = pca.get("build")
    regions = long_range_ld_regions(build) if build is not None else None
    selected: dict[str, np.ndarray] = {}
    n_pass = n_region = 0
    for chrom, prefix in prefixes.items():
        with open_genotypes(prefix, sample_index=qc_index) as reader:
            positions = reader.variants["position"].to_numpy()
            outside = np.ones(len(positions), dtype=bool)
            if regions is not None:
                outside = ~in_regions(reader.variants["chromosome"].to_numpy(), positions, regions)
                n_region += int((~outside).sum())
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
                    (maf >= pca["min_maf"])
                    & (call >= pca["min_call_rate"])
                    & (sd > 0)
                    & outside[start : start + len(G)]
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
    if regions is not None:
        logger.info("PCA variants: %d in long-range LD regions (%s) excluded", n_region, build)
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


def project_pcs(
    G_fit: np.ndarray,
    G_new: np.ndarray,
    mean: np.ndarray,
    sd: np.ndarray,
    U: np.ndarray,
    S: np.ndarray,
) -> np.ndarray:
    """Scores of new people on PCs fitted to other people, on the fitted scores' scale.

    With Z the standardised fitted genotypes (variants x fitted people; mean and sd of the
    fitted people) = A S Uᵀ, a new person's standardised genotypes z (missing = 0) get
    sqrt(n_fit) zᵀ A S⁻¹ = sqrt(n_fit) zᵀ Z U S⁻²: a fitted person would get exactly their own
    score. Streams over variant blocks (int8 in, one float32 block at a time).
    """
    m, n_fit = G_fit.shape
    out = np.zeros((G_new.shape[1], len(S)))
    step = max(1, _BLOCK_ELEMENTS // max(1, n_fit + G_new.shape[1]))
    U32 = U.astype(np.float32)
    for a in range(0, m, step):
        b = min(a + step, m)
        loadings = zscores(G_fit[a:b], mean[a:b], sd[a:b]) @ U32  # (b - a) x k: Z U
        out += zscores(G_new[a:b], mean[a:b], sd[a:b]).T.astype(np.float64) @ loadings
    return out / S**2 * math.sqrt(n_fit)


def compute_pcs(
    prefixes: dict[str, str],
    sample_index: np.ndarray,
    pca: dict,
    seed: int,
    fit: np.ndarray | None = None,
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Genetic PCs of the samples at ``sample_index`` (.fam positions, in that order).

    ``fit`` (boolean per sample; default all) marks the people the PCs are fitted on (the
    unrelated): variant filters, standardisation and the SVD use them only, and the others are
    projected (``project_pcs``; their scores shrink towards 0, see the module docstring).
    Returns (scores n x k: sqrt(n_fit) * left singular vectors for the fitted people, so each
    PC has mean 0 and variance 1 among them; table component/eigenvalue/variance_explained/
    n_variants/n_fit; the variants used: chromosome, variant_id, position). Eigenvalues are
    those of the genetic relationship matrix X X'/m of the standardised genotypes X (n_fit x
    m), as plink2 --pca reports them.
    """
    k = int(pca["n_pcs"])
    sample_index = np.asarray(sample_index)
    fit = np.ones(len(sample_index), dtype=bool) if fit is None else np.asarray(fit, dtype=bool)
    if fit.shape != sample_index.shape:
        raise ValueError("compute_pcs: fit must have one flag per sample")
    selected = select_pca_variants(prefixes, sample_index[fit], pca, seed)
    blocks, used = [], []
    for chrom, index in selected.items():
        if not len(index):
            continue
        G = read_genotype_rows(prefixes[chrom], index, sample_index)
        mean, sd, call, maf = genotype_moments(G[:, fit])
        ok = (maf >= pca["min_maf"]) & (call >= pca["min_call_rate"]) & (sd > 0)
        blocks.append((G[ok], mean[ok], sd[ok], call[ok]))
        b = read_variant_table(prefixes[chrom]).iloc[index[ok]]
        used.append(b[["chromosome", "variant_id", "position"]])
    m = sum(len(b[0]) for b in blocks)
    n = int(fit.sum())
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
    G_fit = G if fit.all() else np.ascontiguousarray(G[:, fit])
    logger.info("genetic PCA: %d variants x %d samples, %d PCs", m, n, k)
    U, S = randomized_pca(G_fit, mean, sd, k, seed, pca["n_iter"], pca["n_oversamples"])
    scores = np.empty((len(sample_index), k))
    scores[fit] = U * math.sqrt(n)
    if not fit.all():
        logger.info("genetic PCA: %d samples projected onto the PCs", int((~fit).sum()))
        scores[~fit] = project_pcs(G_fit, np.ascontiguousarray(G[:, ~fit]), mean, sd, U, S)
    table = pd.DataFrame(
        {
            "component": [f"PC{i + 1}" for i in range(k)],
            "eigenvalue": S**2 / m,
            "variance_explained": S**2 / total_ss,
            "n_variants": m,
            "n_fit": n,
        }
    )
    return scores, table, pd.concat(used, ignore_index=True)

"""Variant QC of the latent GWAS: exact genotype counts, call rate, MAF, MAC and the
exact HWE test (Wigginton et al. 2005).

Chromosome X (non-PAR): males are hemizygous and a PLINK .bed stores their calls as 0 or 2
(homozygous). Allele counts count a male once (2 x female calls + male calls alleles, as plink2
--freq), heterozygous male calls are set missing (``set_male_het_missing``, as plink 1.9 and
plink2 --set-hh-missing), and the HWE test uses women only (as plink2 --hardy's .hardy.x)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import special

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- counts and QC


@dataclass
class DosageSums:
    """Per-variant sums of ALT dosages (float64) over the samples that have one."""

    called: np.ndarray
    total: np.ndarray
    centered_ss: np.ndarray
    uncertain: np.ndarray  # True where a dosage differs from its hard call (imputed)

    def subset(self, idx: np.ndarray) -> DosageSums:
        return DosageSums(
            self.called[idx], self.total[idx], self.centered_ss[idx], self.uncertain[idx]
        )

    @property
    def info(self) -> np.ndarray:
        """MACH R-squared (plink2's MACH_R2, the 'INFO' of imputed dosages): the observed
        dosage variance over its binomial expectation 2p(1-p) (1 where p is 0 or 1)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            p = self.total / (2.0 * self.called)
            expected = 2.0 * p * (1.0 - p)
            r2 = (self.centered_ss / self.called) / expected
        return np.where(expected > 0, r2, 1.0)


@dataclass
class Counts:
    """Exact per-variant genotype (hard-call) counts of a block (int64), and the dosage sums
    when the block carries dosages (then allele frequency, call rate and the additive test use
    the dosages; HWE and the genotypic test the hard calls)."""

    c0: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    miss: np.ndarray
    dosage: DosageSums | None = None
    # chromosome X only: ALT alleles and called alleles counting each male once (None: diploid)
    x_alt: np.ndarray | None = None
    x_alleles: np.ndarray | None = None

    @property
    def called(self) -> np.ndarray:
        return self.c0 + self.c1 + self.c2

    @property
    def alt_count(self) -> np.ndarray:
        """Sum of the genotype values 0/1/2 over called samples (the regression's genotype)."""
        return self.c1 + 2 * self.c2

    @property
    def allele_called(self) -> np.ndarray:
        """Samples with a dosage (dosage blocks) or a hard call."""
        return self.called if self.dosage is None else self.dosage.called

    @property
    def allele_sum(self) -> np.ndarray:
        """Sum of the genotype values (the regression's genotype): the dosage sum (dosage
        blocks) or the exact hard-call count (males 0/2 on chromosome X)."""
        return self.alt_count if self.dosage is None else self.dosage.total

    @property
    def alt_alleles(self) -> np.ndarray:
        """ALT alleles among the called ones (males once on chromosome X)."""
        return self.allele_sum if self.x_alt is None else self.x_alt

    @property
    def allele_total(self) -> np.ndarray:
        """Called alleles: 2 per called sample, 1 per called male on chromosome X."""
        return 2 * self.allele_called if self.x_alleles is None else self.x_alleles

    def subset(self, idx: np.ndarray) -> Counts:
        x = (None, None) if self.x_alt is None else (self.x_alt[idx], self.x_alleles[idx])
        return Counts(
            self.c0[idx],
            self.c1[idx],
            self.c2[idx],
            self.miss[idx],
            None if self.dosage is None else self.dosage.subset(idx),
            *x,
        )


def genotype_counts(G: np.ndarray, D: np.ndarray | None = None) -> Counts:
    """Counts of 0/1/2/missing per variant of an int8 block (variants x samples), with the
    sums of the dosages ``D`` (float64, missing < 0) when given."""
    c1 = np.count_nonzero(G == 1, axis=1).astype(np.int64)
    c2 = np.count_nonzero(G == 2, axis=1).astype(np.int64)
    miss = np.count_nonzero(G < 0, axis=1).astype(np.int64)
    c0 = G.shape[1] - c1 - c2 - miss
    return Counts(c0, c1, c2, miss, None if D is None else dosage_sums(D, G))


def dosage_sums(D: np.ndarray, G: np.ndarray | None = None) -> DosageSums:
    """Called count, sum and centred sum of squares of the dosages of each variant, and
    whether any dosage differs from its hard call ``G`` (all True without ``G``)."""
    ok = D >= 0
    called = ok.sum(axis=1).astype(np.int64)
    x = np.where(ok, D, 0.0)
    total = x.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(called > 0, total / np.maximum(called, 1), 0.0)
    centered = np.where(ok, D - mean[:, None], 0.0)
    uncertain = np.ones(len(D), dtype=bool) if G is None else (D != G).any(axis=1)
    return DosageSums(called, total, np.einsum("ij,ij->i", centered, centered), uncertain)


def set_male_het_missing(G: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Set heterozygous calls of males (columns where ``male``) to missing (-9) in place, as
    plink2 --set-hh-missing does on chromosome X; returns their number per variant (int64)."""
    cols = np.flatnonzero(male)
    if cols.size == 0:
        return np.zeros(G.shape[0], dtype=np.int64)
    sub = G[:, cols]
    het = sub == 1
    n_het = np.count_nonzero(het, axis=1).astype(np.int64)
    rows = np.flatnonzero(n_het)
    if rows.size:
        sub[het] = -9
        G[np.ix_(rows, cols)] = sub[rows]
    return n_het


def x_genotype_counts(G: np.ndarray, male: np.ndarray) -> Counts:
    """Counts of a chromosome X block whose males are coded 0/2 (heterozygous male calls already
    missing): genotype-value counts over everyone plus allele counts that count a male once."""
    counts = genotype_counts(G)
    male = np.asarray(male, dtype=bool)
    female = genotype_counts(G[:, ~male])
    male_alt = np.count_nonzero(G[:, male] == 2, axis=1).astype(np.int64)
    male_called = np.count_nonzero(G[:, male] >= 0, axis=1).astype(np.int64)
    counts.x_alt = female.alt_count + male_alt
    counts.x_alleles = 2 * female.called + male_called
    return counts


def hwe_exact_p(het: np.ndarray, hom1: np.ndarray, hom2: np.ndarray) -> np.ndarray:
    """Hardy-Weinberg exact test p-values (Wigginton, Cutler & Abecasis 2005), vectorised.

    P(het = h | N, n_minor) = N! 2^h n_rare! n_common! / (hom_r! h! hom_c! (2N)!); the p-value
    sums the probabilities not above the observed one. The het grid is limited to +-38 sd of
    the mode, beyond which probabilities are below ~1e-300 of the mode (no effect on p).
    """
    het, hom1, hom2 = (np.asarray(v, dtype=np.int64) for v in (het, hom1, hom2))
    out = np.ones(het.shape, dtype=np.float64)
    if het.size == 0:
        return out
    n = het + hom1 + hom2
    rare_hom = np.minimum(hom1, hom2)
    n_rare = 2 * rare_hom + het
    n_common = 2 * n - n_rare
    valid = (n > 0) & (n_rare > 0)
    # mode and spread of the het count under HWE
    with np.errstate(invalid="ignore", divide="ignore"):
        mode = n_rare * n_common / np.maximum(2 * n - 1, 1)
        q = n_rare / np.maximum(2 * n, 1)
        sd = np.sqrt(np.maximum(2 * n * q * (1 - q), 1.0))
    half = np.ceil(19 * sd + 4).astype(np.int64)  # grid step 2 -> +-38 sd
    width = int(2 * half.max() + 1)
    parity = n_rare % 2
    start = np.maximum(np.floor(mode).astype(np.int64) - 2 * half, 0)
    start = start + ((start - parity) % 2)
    steps = np.arange(width, dtype=np.int64)
    h = start[:, None] + 2 * steps[None, :]
    inside = (h <= n_rare[:, None]) & valid[:, None]
    h = np.where(inside, h, parity[:, None])
    hr = (n_rare[:, None] - h) // 2
    hc = n[:, None] - h - hr
    inside &= hc >= 0
    h = np.where(inside, h, parity[:, None])
    hr = np.where(inside, hr, 0)
    hc = np.where(inside, hc, 0)
    gl = special.gammaln
    logp = (
        gl(n + 1.0)[:, None]
        + h * np.log(2.0)
        + (gl(n_rare + 1.0) + gl(n_common + 1.0) - gl(2 * n + 1.0))[:, None]
        - gl(hr + 1.0)
        - gl(h + 1.0)
        - gl(hc + 1.0)
    )
    logp = np.where(inside, logp, -np.inf)
    obs = (
        gl(n + 1.0)
        + het * np.log(2.0)
        + gl(n_rare + 1.0)
        + gl(n_common + 1.0)
        - gl(2 * n + 1.0)
        - gl(rare_hom + 1.0)
        - gl(het + 1.0)
        - gl(n - het - rare_hom + 1.0)
    )
    top = np.max(logp, axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    prob = np.exp(logp - top[:, None])
    total = prob.sum(axis=1)
    # ties within a relative 1e-7 count as "not above" (as plink)
    thr = np.exp(obs - top) * (1 + 1e-7)
    tail = np.where(prob <= thr[:, None], prob, 0.0).sum(axis=1)
    res = np.minimum(tail / total, 1.0)
    out[valid] = res[valid]
    return out


def hwe_pass(counts: Counts, threshold: float) -> np.ndarray:
    """True where the HWE exact p >= threshold (p = 1 for threshold <= 0).

    The p-value is at least the probability of the observed het count itself, so variants whose
    observed configuration has probability >= threshold pass without the full sum (cheap screen);
    the exact test is computed for the rest only.
    """
    out = np.ones(counts.c0.shape, dtype=bool)
    if threshold <= 0 or out.size == 0:
        return out
    het, hom1, hom2 = counts.c1, counts.c0, counts.c2
    n = (het + hom1 + hom2).astype(np.float64)
    rare_hom = np.minimum(hom1, hom2)
    n_rare = 2 * rare_hom + het
    gl = special.gammaln
    log_obs = (
        gl(n + 1)
        + het * np.log(2.0)
        + gl(n_rare + 1.0)
        + gl(2 * n - n_rare + 1.0)
        - gl(2 * n + 1.0)
        - gl(rare_hom + 1.0)
        - gl(het + 1.0)
        - gl(n - het - rare_hom + 1.0)
    )
    check = np.flatnonzero(log_obs < np.log(threshold))
    if check.size:
        out[check] = hwe_exact_p(het[check], hom1[check], hom2[check]) >= threshold
    return out

"""KING-robust kinship between all pairs of samples, and plink2's greedy --king-cutoff removal.

The estimator is KING's robust between-family kinship (Manichaikul et al. 2010,
Bioinformatics 26:2867), as plink2 --make-king-table computes it: over the variants called in
both people of a pair,

    phi = 1/2 - (4 IBS0 + N_het1_hom2 + N_hom1_het2) / (4 (N_hethet + min(N_het1_hom2, N_hom1_het2)))

where IBS0 counts opposite homozygotes, N_hethet both heterozygous, N_het1_hom2 person 1
heterozygous and person 2 homozygous. Expected values: 0.5 duplicates / monozygotic twins,
0.25 first degree, 0.125 second, 0.0625 third; plink2's default --king-cutoff 0.0884 (2^-3.5)
lies between first/second and third degree.

Counts come from matrix products of 0/1 indicator matrices (exact in float32 for blocks of
fewer than 2^24 variants), accumulated over variant blocks for one tile of samples x samples
at a time, so memory is bounded by ``block_samples``² and one block of genotypes, never
n x n x m. Only pairs above ``min_kinship`` are kept: at biobank scale (500k people, 1.25e11
pairs) the full table could not be held or written, and only the related pairs matter.
Tiles cost one pass over the genotypes per pair of sample tiles (ceil(n / block_samples)² / 2
passes); at n = 500k and 2,048-sample tiles that is ~30,000 passes over the variants, so use a
pruned, common variant set (plink2 itself needs hours there; KING's own --related is faster
through its family-first heuristics)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.io.genotypes import GenotypeReader, open_genotypes
from regwas.io.plink import MISSING

log = logging.getLogger(__name__)

KING_COLUMNS = ["index1", "index2", "nsnp", "hethet", "ibs0", "kinship"]
_VARIANT_BLOCK = 4096  # variants per genotype block (<< 2^24: float32 counts stay exact)


def king_kinship(counts: dict[str, np.ndarray]) -> np.ndarray:
    """KING-robust kinship from the pair counts ``hethet``, ``ibs0``, ``het1_hom2``,
    ``hom1_het2`` (NaN where neither person has a heterozygous call)."""
    het_hom = counts["het1_hom2"] + counts["hom1_het2"]
    smaller = counts["hethet"] + np.minimum(counts["het1_hom2"], counts["hom1_het2"])
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = 0.5 - (4.0 * counts["ibs0"] + het_hom) / (4.0 * smaller)
    return np.where(smaller > 0, phi, np.nan)


def _indicators(G: np.ndarray) -> tuple[np.ndarray, ...]:
    """0/1 float32 (samples x variants) indicators: het, hom-ref, hom-alt, called."""
    Gt = G.T
    het = (Gt == 1).astype(np.float32)
    ref = (Gt == 0).astype(np.float32)
    alt = (Gt == 2).astype(np.float32)
    called = (Gt != MISSING).astype(np.float32)
    return het, ref, alt, called


def _tile_counts(
    readers: list[GenotypeReader], rows: np.ndarray, cols: np.ndarray, block: int, desc: str
) -> dict[str, np.ndarray]:
    """Pair counts between the samples at ``rows`` and at ``cols`` (reader sample positions),
    accumulated over every variant of every reader."""
    shape = (len(rows), len(cols))
    acc = {k: np.zeros(shape) for k in ("hethet", "ibs0", "het1_called2", "called1_het2", "nsnp")}
    same = np.array_equal(rows, cols)
    total = sum(math.ceil(r.n_variants / block) for r in readers)
    with tqdm(total=total, desc=desc, disable=None) as bar:
        for reader in readers:
            for _, _, G in reader.blocks(block):
                h1, r1, a1, c1 = _indicators(G[:, rows])
                if same:
                    h2, r2, a2, c2 = h1, r1, a1, c1
                else:
                    h2, r2, a2, c2 = _indicators(G[:, cols])
                acc["hethet"] += h1 @ h2.T
                ra = r1 @ a2.T
                acc["ibs0"] += ra + (ra.T if same else a1 @ r2.T)
                if c1.all() and c2.all():  # no missing call in this block: counts are sums
                    acc["het1_called2"] += h1.sum(axis=1)[:, None]
                    acc["called1_het2"] += h2.sum(axis=1)[None, :]
                    acc["nsnp"] += G.shape[0]
                else:
                    hc = h1 @ c2.T
                    acc["het1_called2"] += hc
                    acc["called1_het2"] += hc.T if same else c1 @ h2.T
                    acc["nsnp"] += c1 @ c2.T
                bar.update()
    return {
        "hethet": acc["hethet"],
        "ibs0": acc["ibs0"],
        "het1_hom2": acc["het1_called2"] - acc["hethet"],
        "hom1_het2": acc["called1_het2"] - acc["hethet"],
        "nsnp": acc["nsnp"],
    }


def king_pairs(
    prefixes: dict[str, str] | list[str],
    sample_index: np.ndarray | None = None,
    min_kinship: float | None = 0.0442,
    block_samples: int = 2048,
    block_variants: int = _VARIANT_BLOCK,
) -> pd.DataFrame:
    """KING-robust kinship of every pair of the samples at ``sample_index`` (.fam positions;
    None: all), over all variants (hard calls) of the genotype file sets (.bed, .pgen or .bgen) ``prefixes``.

    Returns one row per pair i < j (positions in ``sample_index``) with kinship above
    ``min_kinship`` (None: every pair): index1, index2, nsnp (variants called in both),
    hethet, ibs0, kinship. Memory: about 100 bytes x block_samples² per tile (5 float64 count
    matrices and temporaries; 420 MB at 2,048) plus one genotype block.
    """
    prefixes = list(prefixes.values()) if isinstance(prefixes, dict) else list(prefixes)
    readers = [open_genotypes(p, sample_index=sample_index) for p in prefixes]
    try:
        n = readers[0].n_samples
        tiles = [np.arange(a, min(a + block_samples, n)) for a in range(0, n, block_samples)]
        out = []
        for ti, rows in enumerate(tiles):
            for tj in range(ti, len(tiles)):
                cols = tiles[tj]
                desc = f"KING tile {ti + 1},{tj + 1} of {len(tiles)}"
                c = _tile_counts(readers, rows, cols, block_variants, desc)
                phi = king_kinship(c)
                keep = np.ones(phi.shape, dtype=bool) if min_kinship is None else phi > min_kinship
                if ti == tj:
                    keep = np.triu(keep, k=1)
                a, b = np.nonzero(keep)
                out.append(
                    pd.DataFrame(
                        {
                            "index1": rows[a],
                            "index2": cols[b],
                            "nsnp": c["nsnp"][a, b].astype(np.int64),
                            "hethet": c["hethet"][a, b].astype(np.int64),
                            "ibs0": c["ibs0"][a, b].astype(np.int64),
                            "kinship": phi[a, b],
                        }
                    )
                )
                del c, phi, keep
    finally:
        for r in readers:
            r.close()
    pairs = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=KING_COLUMNS)
    return pairs.sort_values(["index1", "index2"], ignore_index=True)


def king_cutoff(n: int, pairs: pd.DataFrame, cutoff: float) -> pd.DataFrame:
    """plink2's --king-cutoff greedy removal (KinshipPruneDestructive) of the samples 0..n-1.

    Edges are the pairs with kinship > ``cutoff``. While edges remain: if some sample has
    exactly one related partner left, the partner of the lowest-index such sample is removed;
    otherwise the lowest-index sample with the most related partners is. So a trio loses the
    child, a pair loses its later member. Returns the removed samples in removal order:
    index, n_related (partners left when removed), partner (the one of highest kinship among
    them) and kinship.
    """
    edges = pairs[pairs["kinship"] > cutoff]
    adj: dict[int, dict[int, float]] = {}
    for a, b, k in zip(edges["index1"], edges["index2"], edges["kinship"], strict=True):
        a, b = int(a), int(b)
        if a == b or not 0 <= a < n or not 0 <= b < n:
            raise ValueError(f"king_cutoff: pair ({a}, {b}) outside 0..{n - 1}")
        adj.setdefault(a, {})[b] = float(k)
        adj.setdefault(b, {})[a] = float(k)
    rows = []
    while adj:
        ones = [v for v in sorted(adj) if len(adj[v]) == 1]
        if ones:
            prune = next(iter(adj[ones[0]]))
        else:
            prune = max(sorted(adj), key=lambda v: len(adj[v]))  # first of the maximum degree
        partners = adj.pop(prune)
        best = max(partners, key=lambda v: (partners[v], -v))
        rows.append(
            {
                "index": prune,
                "n_related": len(partners),
                "partner": best,
                "kinship": partners[best],
            }
        )
        for v in partners:
            del adj[v][prune]
            if not adj[v]:
                del adj[v]
    return pd.DataFrame(rows, columns=["index", "n_related", "partner", "kinship"])

"""Lead variants of a latent GWAS: distance / LD clumping, latent directions and their clusters.

Columns of lead_variants.tsv (one row per lead, strongest first):
chromosome, base_pair_location, variant_id, effect_allele, other_allele,
effect_allele_frequency, p_value, neg_log10_p,
clump_method   distance | ld | both (the rule that chose the leads),
clump_size     distance method: significant variants assigned to this lead's clump (greedy by p,
               within +-window_kb, lead included); ld/both: significant variants within
               +-window_kb of the lead (lead included),
ld_clump_size  ld/both: significant variants within the window with r^2 > clump.r2 to the lead
               that were not already clumped (lead included); empty for distance,
locus          both: LD-independent leads grouped greedily by distance (+-window_kb), so several
               leads can share a locus; distance and ld: each lead is its own locus,
n_hom_ref, n_het, n_hom_alt  genotype class sizes of the lead among the analysed samples,
direction_het, direction_hom  JSON lists (length d, all embedding columns of the file given):
               mean embedding of heterozygotes / ALT homozygotes minus mean of REF homozygotes.
               The embeddings are the ones passed in (the workflow passes the adjusted ones);
               null where a class is empty,
cluster        hierarchical cluster (average linkage, cosine distance on [het, hom] concatenated;
               an empty class is replaced by its additive expectation, hom = 2 het) cut at
               cluster_max_distance; 0 when a lead has no direction (no genotypes given).
The linkage matrix (scipy format: left, right, distance, size; leaf i = row i) goes to
``out_linkage`` as TSV."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pandas as pd

from regwas.associate.gwas.lead_directions import cluster_directions, directions
from regwas.associate.gwas.qc import set_male_het_missing
from regwas.config.schema import section
from regwas.errors import InputError
from regwas.genetics.chromosomes import is_x_chromosome
from regwas.genetics.standardise import ld_r2, unit_rows
from regwas.io.embeddings import read_embeddings
from regwas.io.genotypes import (
    read_genotype_rows,
    read_sample_ids,
    read_sex_codes,
    read_variant_table,
    sample_file,
)
from regwas.io.sumstats import SUMSTATS_COLUMNS
from regwas.io.tables import write_tsv

log = logging.getLogger(__name__)

LD_BLOCK = 1024  # variants standardised at a time for LD


def _greedy_clump(n: int, order: np.ndarray, members_of) -> tuple[np.ndarray, np.ndarray]:
    """Greedy clumping of n variants in p order: each unclumped variant becomes a lead and
    absorbs the unclumped variants ``members_of(i, unclumped)`` returns. Returns (lead flags,
    clump id per variant)."""
    clump_of = np.full(n, -1, dtype=np.int64)
    is_lead = np.zeros(n, dtype=bool)
    for i in order:
        if clump_of[i] >= 0:
            continue
        is_lead[i] = True
        clump_of[members_of(i, clump_of < 0)] = i
    return is_lead, clump_of


def distance_clump(
    chrom: np.ndarray, pos: np.ndarray, order: np.ndarray, window_bp: float
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy clumping by position: returns (lead flags, clump id per variant) given p order."""
    return _greedy_clump(
        len(pos),
        order,
        lambda i, free: free & (chrom == chrom[i]) & (np.abs(pos - pos[i]) <= window_bp),
    )


def ld_clump(
    chrom: np.ndarray,
    pos: np.ndarray,
    order: np.ndarray,
    window_bp: float,
    geno: np.ndarray,
    r2_max: float,
    block: int = LD_BLOCK,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy LD clumping: a lead absorbs unclumped variants in the window with r^2 > r2_max.

    ``geno`` holds ALT counts (int8, -9 missing), variants x analysed samples. r² is computed
    per lead against the unclumped variants of its window, ``block`` variants at a time
    (standardised in float64 only per block), so memory stays at the int8 genotypes plus one
    block instead of a float64 variants x samples array (~80 GB at 20k significant variants
    and 500k people).
    """

    def members(i: int, free: np.ndarray) -> np.ndarray:
        near = np.flatnonzero(free & (chrom == chrom[i]) & (np.abs(pos - pos[i]) <= window_bp))
        lead = unit_rows(geno[i : i + 1])[0]
        r2 = np.concatenate(
            [ld_r2(unit_rows(geno[near[s : s + block]]), lead) for s in range(0, len(near), block)]
            or [np.zeros(0)]
        ).ravel()
        return near[(r2 > r2_max) | (near == i)]

    return _greedy_clump(len(pos), order, members)


def _prefix_for(pattern: str, chrom: str) -> str:
    return pattern.replace("{chrom}", str(chrom))


def read_variants(
    pattern: str, chrom: str, variant_ids: np.ndarray, sample_ids: np.ndarray
) -> np.ndarray:
    """ALT counts (variants x samples, int8, -9 missing) of named variants, samples aligned.
    On chromosome X heterozygous male calls (.fam sex 1) are missing, as in the GWAS."""
    prefix = _prefix_for(pattern, chrom)
    fam_index = pd.Index(read_sample_ids(prefix))
    sidx = fam_index.get_indexer(sample_ids)
    if (sidx < 0).any():
        raise InputError(f"{sample_file(prefix)}: {int((sidx < 0).sum())} analysed samples missing")
    bim = read_variant_table(prefix)
    vidx = pd.Index(bim["variant_id"].astype(str)).get_indexer_for(variant_ids)
    if len(vidx) != len(variant_ids) or (vidx < 0).any():
        raise InputError(
            f"{prefix}: significant variants missing from its variant table or with duplicate ids "
            f"(e.g. {', '.join(map(str, variant_ids[:3]))})"
        )
    G = read_genotype_rows(prefix, vidx, sidx)
    if is_x_chromosome(chrom):
        set_male_het_missing(G, read_sex_codes(prefix)[sidx] == "1")
    return G


def analysed_samples(
    ids: np.ndarray, z: np.ndarray, pattern: str, chrom: str, cfg: dict
) -> tuple[np.ndarray, np.ndarray]:
    """The samples the GWAS analysed: embedding ids present in the .fam (every one must be,
    unless gwas.intersect_samples, as in the GWAS itself). Clumping LD and lead directions
    use these only."""
    fam_ids = read_sample_ids(_prefix_for(pattern, chrom))
    in_fam = pd.Index(fam_ids).get_indexer(np.asarray(ids).astype(str)) >= 0
    if not in_fam.all():
        if not cfg["intersect_samples"]:
            raise InputError(
                f"{int((~in_fam).sum())} of {len(ids)} embedding sample ids are not in the .fam "
                f"of chromosome {chrom} (set gwas.intersect_samples to analyse the common ones)"
            )
        log.info("leads: %d of %d embedding samples are in the .fam", in_fam.sum(), len(ids))
    return np.asarray(ids)[in_fam], z[in_fam]


def lead_variants(
    gwas: pd.DataFrame,
    cfg: dict | None,
    bfile_pattern: str | None,
    embeddings_path: str | os.PathLike,
    out_tsv: str | os.PathLike,
    out_linkage: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Clump, compute directions and clusters, write the leads TSV (and linkage); see module doc.

    ``cfg`` is the gwas section (defaults filled in here). ``bfile_pattern`` is a PLINK prefix, with ``{chrom}``
    for per-chromosome file sets; without it LD clumping is impossible and directions are empty.
    """
    cfg = section("gwas", cfg)
    method = cfg["clump"]["method"]
    window_bp = float(cfg["clump"]["window_kb"]) * 1000.0
    thr = -np.log10(float(cfg["p_threshold"]))
    if method in ("ld", "both") and bfile_pattern is None:
        raise InputError("gwas.clump.method ld/both needs the genotype files (bfile pattern)")
    sig = gwas[gwas["neg_log10_p"] >= thr].copy()
    sig["chromosome"] = sig["chromosome"].astype(str)
    sig = sig.sort_values(
        ["neg_log10_p", "chromosome", "base_pair_location"],
        ascending=[False, True, True],
        kind="mergesort",
    ).reset_index(drop=True)
    chrom = sig["chromosome"].to_numpy()
    pos = sig["base_pair_location"].to_numpy(np.float64)
    order = np.arange(len(sig))  # already sorted strongest first
    log.info("%d variants with p < %g", len(sig), cfg["p_threshold"])

    ids, z, _ = read_embeddings(embeddings_path)
    if bfile_pattern is not None and len(sig):
        ids, z = analysed_samples(ids, z, bfile_pattern, pd.unique(chrom)[0], cfg)
    in_window = np.array(
        [
            int(((chrom == chrom[i]) & (np.abs(pos - pos[i]) <= window_bp)).sum())
            for i in range(len(sig))
        ],
        dtype=np.int64,
    )
    ld_size = np.full(len(sig), np.nan)
    # genotypes of the leads per chromosome (rows in lead order). Memory: LD clumping holds the
    # significant variants of one chromosome at a time (int8, variants x people), keeps only
    # its leads' rows and frees the rest; distance clumping reads the leads alone.
    lead_geno: dict[str, np.ndarray] = {}
    if method == "distance":
        is_lead, clump_of = distance_clump(chrom, pos, order, window_bp)
        size = np.bincount(clump_of, minlength=len(sig)) if len(sig) else np.zeros(0, int)
        if bfile_pattern is not None:
            for c in pd.unique(chrom[is_lead]):
                names = sig.loc[is_lead & (chrom == c), "variant_id"].to_numpy(str)
                lead_geno[c] = read_variants(bfile_pattern, c, names, ids)
    else:
        is_lead = np.zeros(len(sig), dtype=bool)
        clump_of = np.full(len(sig), -1, dtype=np.int64)
        for c in pd.unique(chrom):
            sel = np.flatnonzero(chrom == c)  # in p order: sig is sorted strongest first
            G = read_variants(bfile_pattern, c, sig.loc[sel, "variant_id"].to_numpy(str), ids)
            lead_c, clump_c = ld_clump(
                chrom[sel],
                pos[sel],
                np.arange(len(sel)),
                window_bp,
                G,
                float(cfg["clump"]["r2"]),
            )
            is_lead[sel], clump_of[sel] = lead_c, sel[clump_c]
            lead_geno[c] = G[lead_c].copy()
            del G
        ld_size = np.bincount(clump_of, minlength=len(sig)).astype(np.float64)
        size = in_window
    leads = sig[is_lead].copy()
    lead_idx = np.flatnonzero(is_lead)
    leads["clump_method"] = method
    leads["clump_size"] = np.asarray(size)[lead_idx].astype(np.int64)
    leads["ld_clump_size"] = ld_size[lead_idx]
    if method == "both":  # LD-independent leads grouped into loci by distance
        lead_is_lead, lead_locus = distance_clump(
            chrom[lead_idx], pos[lead_idx], np.arange(len(lead_idx)), window_bp
        )
        locus_rank = {v: i + 1 for i, v in enumerate(np.flatnonzero(lead_is_lead))}
        leads["locus"] = [locus_rank[v] for v in lead_locus]
    else:  # distance leads are a window apart already; ld: every independent lead is a locus
        leads["locus"] = np.arange(1, len(leads) + 1)

    d = z.shape[1]
    het = np.full((len(leads), d), np.nan)
    hom = np.full((len(leads), d), np.nan)
    counts = np.full((len(leads), 3), -1, dtype=np.int64)
    if lead_geno:
        for c, G in lead_geno.items():
            rows = np.flatnonzero(chrom[lead_idx] == c)  # G's rows: these leads, in order
            h1, h2, cnt = directions(G, z)
            het[rows], hom[rows], counts[rows] = h1, h2, cnt
    elif bfile_pattern is None:
        log.warning("no genotype files given: lead-variant directions and clusters are empty")
    cluster, linkage = cluster_directions(het, hom, float(cfg["cluster_max_distance"]))
    leads["n_hom_ref"], leads["n_het"], leads["n_hom_alt"] = counts.T
    leads["direction_het"] = [_json_vec(v) for v in het]
    leads["direction_hom"] = [_json_vec(v) for v in hom]
    leads["cluster"] = cluster
    keep = [
        *SUMSTATS_COLUMNS[:6],  # the variant: position, id, alleles, frequency
        "p_value",
        "neg_log10_p",
        *("clump_method", "clump_size", "ld_clump_size", "locus", "cluster"),
        *("n_hom_ref", "n_het", "n_hom_alt", "direction_het", "direction_hom"),
    ]
    leads = leads[[c for c in keep if c in leads.columns]].reset_index(drop=True)
    write_tsv(leads, out_tsv)
    if out_linkage is not None:
        write_tsv(pd.DataFrame(linkage, columns=["left", "right", "distance", "size"]), out_linkage)
    log.info(
        "%d lead variants (%s clumping), %d direction clusters",
        len(leads),
        method,
        len(set(cluster[cluster > 0])),
    )
    return leads


def _json_vec(v: np.ndarray) -> str:
    return json.dumps(None if np.isnan(v).all() else [round(float(x), 7) for x in v])

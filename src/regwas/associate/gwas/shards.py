"""Latent-space GWAS: exact vectorised MANOVA of (adjusted) embeddings on genotypes (PLINK 1,
PLINK 2 .pgen or BGEN 1.2: regwas.io.genotypes; dosages enter the additive test as dosages).

Per shard (one or more chromosomes, one set-up): align samples (embeddings, .fam, covariates), variant QC (call rate,
MAF, minor allele count, HWE exact test), one GEMM per block of variants (gwas_kernel), a
Parquet shard with the summary-statistics columns (regwas.io.sumstats). Shards are merged (sorted, lambda GC) and
lead variants are found by distance and/or LD clumping (regwas.clump).

QC'd-out variants are NOT written (their counts are returned and logged). Variants that pass
QC but cannot be tested are written with empty statistics and the reason in ``note`` (2-df
test: an empty genotype class, common for rare variants; additive: a genotype constant once
the covariates are removed).
Missing calls are mean-imputed (the exact test would drop those samples per variant); ``n`` is
the number of called samples, while the degrees of freedom use all analysed samples.

Chromosome X (non-PAR; a file set whose .bim says X or 23 throughout) follows plink2 --glm's
default (--xchr-model 2): males' calls are coded 0/2 as the .bed stores them, sex from the .fam
is added as a covariate (a covariate set that already holds it is not counted twice: the
covariate basis is rank-revealing) and samples of unknown sex are left out; heterozygous male
calls are set missing (plink2 --set-hh-missing) and counted; allele frequencies, MAF and MAC
count a male once; HWE is tested among women (within their gwas.hwe_groups)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.associate.gwas.kernel import (
    Float32Backend,
    LatentBasis,
    additive_test,
    genotypic_test,
    make_backend,
    prepare_basis,
    screened_test,
)
from regwas.associate.gwas.qc import (
    Counts,
    genotype_counts,
    hwe_pass,
    set_male_het_missing,
    x_genotype_counts,
)
from regwas.config.schema import defaults, section
from regwas.covariates import design_matrix
from regwas.errors import InputError
from regwas.genetics.ancestry import ancestry_groups
from regwas.genetics.chromosomes import is_x_chromosome
from regwas.io.atomic import atomic_path
from regwas.io.embeddings import read_embeddings
from regwas.io.genotypes import (
    genotype_paths,
    open_genotypes,
    read_sample_ids,
    read_sex_codes,
    read_variant_table,
    sample_file,
)
from regwas.io.sumstats import SUMSTATS_COLUMNS, empty_sumstats

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- sample alignment


def match_samples(
    emb_ids: np.ndarray,
    fam_ids: np.ndarray,
    cov_ids: np.ndarray | None,
    intersect: bool,
    sources: tuple[str, str, str] = ("embeddings", ".fam", "covariates"),
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Indices (into embeddings, .fam, covariates) of the analysed samples, in embeddings order.

    Embedding ids absent from the .fam or the covariates raise InputError with counts and
    examples, unless ``intersect`` (then the common samples are analysed and the size logged).
    """
    fam_pos = pd.Index(fam_ids)
    if fam_pos.has_duplicates:
        raise InputError(f"{sources[1]}: duplicate IIDs")
    keep = fam_pos.get_indexer(emb_ids) >= 0
    problems = []
    if not keep.all():
        problems.append(
            f"{int((~keep).sum())} of {len(emb_ids)} embedding sample ids are not in {sources[1]} "
            f"(e.g. {', '.join(map(str, emb_ids[~keep][:5]))})"
        )
    if cov_ids is not None:
        cov_pos = pd.Index(cov_ids)
        if cov_pos.has_duplicates:
            raise InputError(f"{sources[2]}: duplicate sample_id values")
        in_cov = cov_pos.get_indexer(emb_ids) >= 0
        if not in_cov.all():
            problems.append(
                f"{int((~in_cov).sum())} of {len(emb_ids)} embedding sample ids are not in "
                f"{sources[2]} (e.g. {', '.join(map(str, emb_ids[~in_cov][:5]))})"
            )
        keep &= in_cov
    if problems and not intersect:
        raise InputError(
            f"{sources[0]}: " + "; ".join(problems) + " (set gwas.intersect_samples / "
            "--intersect-samples to analyse the common samples)"
        )
    if problems:
        log.warning(
            "analysing the %d samples common to all inputs (%s)", keep.sum(), "; ".join(problems)
        )
    emb_idx = np.flatnonzero(keep)
    fam_idx = fam_pos.get_indexer(emb_ids[emb_idx])
    cov_idx = None if cov_ids is None else pd.Index(cov_ids).get_indexer(emb_ids[emb_idx])
    return emb_idx, fam_idx, cov_idx


def drop_constant_dimensions(z: np.ndarray, names: list[str], source: str) -> np.ndarray:
    """Drop embedding dimensions that are constant over the analysed samples (with a warning)."""
    const = np.ptp(z, axis=0) == 0 if z.shape[0] else np.ones(z.shape[1], bool)
    if const.any():
        log.warning(
            "%s: dropping %d constant embedding dimension(s): %s",
            source,
            int(const.sum()),
            ", ".join(np.asarray(names)[const][:10]),
        )
    if const.all():
        raise InputError(f"{source}: every embedding dimension is constant; nothing to test")
    return z[:, ~const]


def _covariate_table(covariates: pd.DataFrame | None) -> pd.DataFrame | None:
    if covariates is None:
        return None
    if "sample_id" not in covariates.columns:
        raise InputError(f"covariates: no 'sample_id' column (columns: {list(covariates)[:10]})")
    table = covariates.copy()
    table["sample_id"] = table["sample_id"].astype(str)
    return table


def covariate_columns(
    columns: list[str] | tuple[str, ...] | None, adjusted: str | None, source: str
) -> list[str]:
    """The GWAS covariate columns: ``columns``, default the config's one covariate set.

    ``adjusted`` is the embeddings' ``adjust_covariates`` metadata (what adjust removed from
    them). Every one of those must be partialled out of the genotypes as well (and counted in
    the degrees of freedom): removing a covariate from the latents only biases the test (with
    site-dependent allele frequencies, lambda GC 0.37), so a set that misses one is an error.
    """
    cols = [str(c) for c in (defaults("covariates") if columns is None else columns)]
    removed = [c for c in (adjusted or "").split(",") if c]
    missing = [c for c in removed if c not in cols]
    if missing:
        raise InputError(
            f"{source}: adjust removed {missing} from these embeddings but the GWAS covariates "
            f"({', '.join(cols) or 'none'}) do not partial them out of the genotypes; use one "
            "covariate set (config key covariates, --covariate-cols)"
        )
    return cols


def prepare_analysis(
    embeddings_path: str | os.PathLike,
    fam_ids: np.ndarray,
    cfg: dict,
    covariates: pd.DataFrame | None,
    fam_source: str = ".fam",
    seed: int = 0,
    columns: list[str] | None = None,
    x_sex: np.ndarray | None = None,
    hwe_groups: pd.DataFrame | None = None,
) -> tuple[LatentBasis, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Align samples and build the whitened basis: (basis, fam_idx, sample ids, latents used,
    HWE group label per analysed sample or None for pooled HWE). ``columns`` are the covariate
    columns of ``covariates`` (default: the config's one covariate set). ``hwe_groups``: the
    groups of the whole cohort (hwe_groups_table), used when the analysed samples are exactly
    its samples, in its order; otherwise the groups are found for the analysed samples.

    ``x_sex`` (chromosome X): the .fam sex code per .fam row ('1' male, '2' female, else
    unknown). Samples of unknown sex are left out, a male indicator joins the covariates and
    the HWE groups hold women only (men get label -1)."""
    ids, z, meta = read_embeddings(embeddings_path)
    table = _covariate_table(covariates)
    adjusted = meta.get("adjust_covariates")
    if table is None:
        covariate_columns([], adjusted, str(embeddings_path))
    else:
        columns = covariate_columns(columns, adjusted, str(embeddings_path))
    emb_idx, fam_idx, cov_idx = match_samples(
        ids,
        np.asarray(fam_ids).astype(str),
        None if table is None else table["sample_id"].to_numpy(),
        bool(cfg["intersect_samples"]),
        (str(embeddings_path), fam_source, "covariates"),
    )
    # analyse in .fam order: the genotype reader then needs no per-block sample permutation
    perm = np.argsort(fam_idx, kind="stable")
    if x_sex is not None:
        sex = np.asarray(x_sex).astype(str)[fam_idx[perm]]
        known = np.isin(sex, ["1", "2"])
        if not known.all():
            log.warning(
                "%s: %d of %d samples have no sex (1 or 2) in the .fam; left out on chromosome "
                "X (e.g. %s)",
                fam_source,
                int((~known).sum()),
                len(known),
                ", ".join(map(str, ids[emb_idx[perm][~known]][:5])),
            )
            perm = perm[known]
        if perm.size == 0:
            raise InputError(
                f"{fam_source}: no analysed sample has a sex (1 or 2) for chromosome X"
            )
    emb_idx, fam_idx = emb_idx[perm], fam_idx[perm]
    cov_idx = None if cov_idx is None else cov_idx[perm]
    z = z[emb_idx]
    names = [f"z{i:03d}" for i in range(z.shape[1])]
    varies = np.ptp(z, axis=0) != 0 if z.shape[0] else np.zeros(z.shape[1], bool)
    z = drop_constant_dimensions(z, names, str(embeddings_path))
    names = [name for name, keep in zip(names, varies, strict=True) if keep]
    if table is None:
        C = None
        k_names = ["intercept"]
    else:
        sub = table.iloc[cov_idx].reset_index(drop=True)
        C, k_names, _ = design_matrix(sub, columns, source="covariates")
    male = None
    if x_sex is not None:
        male = np.asarray(x_sex).astype(str)[fam_idx] == "1"
        C = male[:, None].astype(np.float64) if C is None else np.hstack([C, male[:, None]])
        k_names = [*k_names, "sex (chromosome X)"]
    basis = prepare_basis(z, C, names)
    groups = _analysed_groups(None if table is None else table.iloc[cov_idx], cfg, seed, hwe_groups)
    if male is not None:
        groups = female_hwe_groups(groups, male, int(cfg["hwe_min_group"]))
    if basis.n - basis.k - basis.d < 1:
        raise InputError(
            f"{embeddings_path}: {basis.n} samples are too few for {basis.d} latent dimensions "
            f"and {basis.k} covariate columns"
        )
    log.info(
        "GWAS set-up: %d samples, %d latent dimensions, %d covariate columns (%s)",
        basis.n,
        basis.d,
        basis.k,
        ", ".join(k_names[:12]),
    )
    return basis, fam_idx, ids[emb_idx], z, groups


# ----------------------------------------------------------------------------- one shard


def hwe_group_labels(table: pd.DataFrame | None, cfg: dict, seed: int = 0) -> np.ndarray | None:
    """Group label per analysed sample for the HWE filter (None: pooled), by gwas.hwe_groups.

    ``pcs``: ancestry clusters of the genetic PCs (regwas.genetics.ancestry_groups), pooled
    with a warning when the table has no PCs; ``none``: pooled; otherwise the named column
    (groups below hwe_min_group people are not tested, missing values form no group).
    """
    how = str(cfg["hwe_groups"])
    if how == "none" or float(cfg["hwe_p"]) <= 0:
        return None
    if table is None:
        log.warning("HWE pooled over all samples: no covariates table to find ancestry groups")
        return None
    table = table.reset_index(drop=True)
    if how == "pcs":
        cols = [f"PC{i}" for i in range(1, int(cfg["hwe_pcs"]) + 1)]
        if not set(cols) <= set(table.columns) or table[cols].isna().any().any():
            log.warning("HWE pooled over all samples: the covariates table lacks %s", cols)
            return None
        return ancestry_groups(
            table[cols].to_numpy(float),
            int(cfg["hwe_max_groups"]),
            seed,
            int(cfg["hwe_min_group"]),
        )
    if how not in table.columns:
        raise InputError(
            f"config gwas.hwe_groups: column {how!r} is not in the covariates table "
            f"(columns: {', '.join(map(str, table.columns[:12]))})"
        )
    codes, _ = pd.factorize(table[how], sort=True)  # missing values get -1: no group
    sizes = np.bincount(codes[codes >= 0])
    small = np.flatnonzero(sizes < int(cfg["hwe_min_group"]))
    codes[np.isin(codes, small)] = -1
    log.info("HWE within the %d groups of %r", int((sizes >= int(cfg["hwe_min_group"])).sum()), how)
    return codes.astype(np.int64)


HWE_GROUP_COLUMN = "hwe_group"


def hwe_groups_table(covariates: pd.DataFrame, cfg: dict | None, seed: int | None = None):
    """The HWE groups of every person of ``covariates`` (the cohort's samples table), by the
    gwas.hwe_* keys: a table of sample_id and hwe_group, in the table's order, or with no rows
    when HWE is pooled. Found once per cohort (rule hwe_groups) instead of once per GWAS job:
    the Gaussian mixture of ``pcs`` is the costly part of a job's set-up."""
    cfg = section("gwas", cfg)
    seed = defaults("seed") if seed is None else int(seed)
    table = _covariate_table(covariates)
    labels = hwe_group_labels(table, cfg, seed)
    if labels is None:
        return pd.DataFrame({"sample_id": pd.Series([], dtype=str), HWE_GROUP_COLUMN: []})
    return pd.DataFrame({"sample_id": table["sample_id"].to_numpy(), HWE_GROUP_COLUMN: labels})


def _analysed_groups(
    table: pd.DataFrame | None, cfg: dict, seed: int, cohort: pd.DataFrame | None
) -> np.ndarray | None:
    """HWE group labels of the analysed samples (rows of ``table``): the cohort's precomputed
    ones when the analysed samples are the cohort's, in its order (then they are exactly what
    hwe_group_labels finds: the same fit on the same rows); else (and for a pooled cohort,
    which costs nothing to find) found here."""
    if cohort is not None and len(cohort) and table is not None:
        ids = cohort["sample_id"].astype(str).to_numpy()
        if len(ids) == len(table) and np.array_equal(ids, table["sample_id"].to_numpy()):
            log.info("HWE groups: the cohort's (%d samples)", len(ids))
            return cohort[HWE_GROUP_COLUMN].to_numpy(np.int64)
        log.info(
            "HWE groups found for the %d analysed samples (the cohort's %d differ)",
            len(table),
            len(ids),
        )
    return hwe_group_labels(table, cfg, seed)


def female_hwe_groups(groups: np.ndarray | None, male: np.ndarray, min_group: int) -> np.ndarray:
    """HWE groups of chromosome X: women only (men get -1), within ``groups`` when given, where
    a group left with fewer than ``min_group`` women is not tested; without ``groups`` all
    women form one group."""
    base = np.zeros(len(male), dtype=np.int64) if groups is None else np.asarray(groups).copy()
    base[np.asarray(male, dtype=bool)] = -1
    if groups is not None:
        labels, sizes = np.unique(base[base >= 0], return_counts=True)
        base[np.isin(base, labels[sizes < min_group])] = -1
    return base


def _hwe_fail(G: np.ndarray, counts: Counts, groups: np.ndarray | None, p: float) -> np.ndarray:
    """True where HWE fails: pooled, or in any group (label >= 0) when groups are given."""
    if groups is None:
        return ~hwe_pass(counts, p)
    fail = np.zeros(len(G), dtype=bool)
    for g in np.unique(groups[groups >= 0]):
        fail |= ~hwe_pass(genotype_counts(G[:, groups == g]), p)
    return fail


def _qc(
    counts: Counts, n: int, cfg: dict, G: np.ndarray | None = None, groups: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, int]]:
    """Variant QC. Each variant is counted under the first filter it fails, in the order call
    rate, monomorphic, MAF, MAC, INFO, HWE (so the counts add up). HWE is tested within each
    group of ``groups`` (labels of the columns of ``G``) when given.

    On a block with dosages (as plink2 does with dosages): call rate, MAF and MAC come from the
    dosages (a sample is missing only without a dosage, plink2's ``--geno dosage``), INFO
    (MACH R2) filters at ``min_info``, and HWE counts the hard calls (plink2 ``--hwe``).
    Otherwise every figure comes from the exact hard-call counts and INFO is not applied. On
    chromosome X allele counts count a male once."""
    called = counts.allele_called
    alt, total = counts.alt_alleles, counts.allele_total
    mac = np.minimum(alt, total - alt)
    with np.errstate(divide="ignore", invalid="ignore"):
        maf = np.where(total > 0, mac / np.maximum(total, 1.0), 0.0)
    fail_call = called < float(cfg["min_call_rate"]) * n - 1e-9
    fail_mono = ~fail_call & (mac <= 0)
    left = ~(fail_call | fail_mono)
    fail_maf = left & (maf < float(cfg["min_maf"]))
    left &= ~fail_maf
    fail_mac = left & (mac < float(cfg["min_mac"]))
    left &= ~fail_mac
    fail_info = np.zeros_like(left)
    if counts.dosage is not None and float(cfg["min_info"]) > 0:
        low = counts.dosage.info < float(cfg["min_info"])
        fail_info = left & counts.dosage.uncertain & low  # hard-called variants: no INFO
    keep = left & ~fail_info
    fail_hwe = np.zeros_like(keep)
    idx = np.flatnonzero(keep)
    if groups is None or G is None:
        fail_hwe[idx] = ~hwe_pass(counts.subset(idx), float(cfg["hwe_p"]))
    else:
        fail_hwe[idx] = _hwe_fail(G[idx], counts.subset(idx), groups, float(cfg["hwe_p"]))
    keep &= ~fail_hwe
    stats = {
        "fail_call_rate": int(fail_call.sum()),
        "fail_monomorphic": int(fail_mono.sum()),
        "fail_maf": int(fail_maf.sum()),
        "fail_mac": int(fail_mac.sum()),
        "fail_info": int(fail_info.sum()),
        "fail_hwe": int(fail_hwe.sum()),
    }
    return keep, stats


def untestable_notes(ok: np.ndarray, counts: Counts, model: str) -> np.ndarray:
    """The ``note`` of each row: empty where tested, else why the variant could not be."""
    notes = np.full(len(ok), "", dtype=object)
    for i in np.flatnonzero(~ok):
        c0, c1, c2 = int(counts.c0[i]), int(counts.c1[i]), int(counts.c2[i])
        if model == "genotypic" and min(c0, c1, c2) == 0:
            notes[i] = (
                "untestable: empty genotype class for the 2-df test "
                f"(REF hom {c0}, het {c1}, ALT hom {c2} called)"
            )
        elif model == "genotypic":
            notes[i] = "untestable: genotype classes collinear with the covariates"
        else:
            notes[i] = "untestable: genotype constant once the covariates are removed"
    return notes


def _limit_threads(threads: int):
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=max(int(threads), 1))


def gwas_frame(
    basis: LatentBasis,
    bfile_prefix: str | os.PathLike,
    fam_idx: np.ndarray,
    cfg: dict,
    threads: int = 1,
    groups: np.ndarray | None = None,
    male: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Test every QC-passing variant of one PLINK file set; returns (results, counts).
    ``groups`` labels the analysed samples (in ``fam_idx`` order) for the HWE filter; ``male``
    (chromosome X only) flags the men among them (module docstring)."""
    from tqdm.auto import tqdm

    backend = make_backend(cfg["backend"], basis.stacked)
    if backend.name.startswith("torch"):
        import torch

        torch.set_num_threads(max(int(threads), 1))
    model_test = additive_test if cfg["model"] == "additive" else genotypic_test
    if cfg["precision"] == "mixed":
        if backend.name != "numpy":
            raise InputError(
                f"config gwas.precision: 'mixed' works with the numpy backend, not {backend.name}"
            )
        fast, refine = Float32Backend(basis.stacked), float(cfg["refine_above"])

        def test(G, counts):
            return screened_test(model_test, G, counts, basis, fast, backend, refine)
    else:

        def test(G, counts):
            return model_test(G, counts, basis, backend)

    tallies = {
        k: 0
        for k in (
            "fail_call_rate",
            "fail_monomorphic",
            "fail_maf",
            "fail_mac",
            "fail_info",
            "fail_hwe",
        )
    }
    parts: list[pd.DataFrame] = []
    n_untestable = 0
    male_het_calls = 0
    t0 = time.perf_counter()
    n_fam = len(read_sample_ids(bfile_prefix))
    everyone = len(fam_idx) == n_fam and np.array_equal(fam_idx, np.arange(n_fam))
    index = None if everyone else fam_idx
    n_dosage = 0
    with open_genotypes(bfile_prefix, sample_index=index) as reader, _limit_threads(threads):
        bim = reader.variants
        bar = tqdm(
            total=reader.n_variants,
            disable=None,
            unit="variant",
            desc=f"GWAS {Path(str(bfile_prefix)).name}",
        )
        step = int(cfg["block_size"])
        for start in range(0, reader.n_variants, step):
            stop = min(start + step, reader.n_variants)
            G, D = reader.read_block(start, stop)
            if male is None:
                counts = genotype_counts(G, D)
            elif D is not None:
                raise InputError(
                    f"{bfile_prefix}: chromosome X with dosages is not supported yet (hard calls "
                    "only: convert with plink2 --make-bed or --make-pgen without dosages)"
                )
            else:
                male_het_calls += int(set_male_het_missing(G, male).sum())
                counts = x_genotype_counts(G, male)
            n_dosage += 0 if D is None else int(counts.dosage.uncertain.sum())
            keep, stats = _qc(counts, basis.n, cfg, G, groups)
            for key, value in stats.items():
                tallies[key] += value
            idx = np.flatnonzero(keep)
            bar.update(stop - start)
            if idx.size == 0:
                continue
            sub = counts.subset(idx)
            if D is not None and cfg["model"] == "genotypic":
                sub.dosage = None  # the 2-df test and its n use the hard calls
            res = test(G[idx] if sub.dosage is None else D[idx], sub)
            ok = res["testable"]
            n_untestable += int((~ok).sum())
            rows = bim.iloc[start + idx]
            called = sub.allele_called
            with np.errstate(divide="ignore", invalid="ignore"):  # no hard call: empty frequency
                freq = sub.alt_alleles / sub.allele_total
            stats_ = {k: np.where(ok, res[k], np.nan) for k in ("pillai", "f_stat", "p_value")}
            parts.append(
                pd.DataFrame(
                    {
                        "chromosome": rows["chromosome"].astype(str).to_numpy(),
                        "base_pair_location": rows["position"].to_numpy(np.int64),
                        "variant_id": rows["variant_id"].astype(str).to_numpy(),
                        "effect_allele": rows["alt"].astype(str).to_numpy(),
                        "other_allele": rows["ref"].astype(str).to_numpy(),
                        "effect_allele_frequency": freq,
                        "n": called.astype(np.int64),
                        **stats_,
                        "df1": res["df1"].astype(np.int64),
                        "df2": res["df2"].astype(np.int64),
                        "neg_log10_p": np.where(ok, res["neg_log10_p"], np.nan),
                        "note": untestable_notes(ok, sub, str(cfg["model"])),
                    }
                )[SUMSTATS_COLUMNS]
            )
        bar.close()
        n_total = reader.n_variants
    frame = pd.concat(parts, ignore_index=True) if parts else empty_sumstats()
    seconds = time.perf_counter() - t0
    counts_out = {
        "n_samples": basis.n,
        "n_latent_dims": basis.d,
        "n_covariate_columns": basis.k,
        "model": cfg["model"],
        "backend": backend.name,
        "precision": cfg["precision"],
        "n_variants_in": int(n_total),
        **tallies,
        "n_variants_with_dosages": n_dosage,
        "n_untestable": n_untestable,
        "n_tested": len(frame) - n_untestable,
        **({} if male is None else {"n_males": int(male.sum()), "male_het_calls": male_het_calls}),
        "seconds": round(seconds, 3),
    }
    log.info(
        "%s: %d of %d variants tested (call rate %d, monomorphic %d, MAF %d, MAC %d, INFO %d, "
        "HWE %d failed QC; %d untestable, written with a note) in %.1f s",
        bfile_prefix,
        len(frame) - n_untestable,
        n_total,
        tallies["fail_call_rate"],
        tallies["fail_monomorphic"],
        tallies["fail_maf"],
        tallies["fail_mac"],
        tallies["fail_info"],
        tallies["fail_hwe"],
        n_untestable,
        seconds,
    )
    return frame, counts_out


def x_file_set(prefix: str | os.PathLike) -> bool:
    """True when every variant of the genotype file set is on chromosome X (X or 23), False
    when none is; InputError for a file set that mixes X with other chromosomes (X is tested
    with its own samples and covariates, so it needs its own file set)."""
    paths = genotype_paths(prefix)
    bim_path = paths.get("bim") or paths.get("pvar") or paths.get("bgen") or prefix
    chroms = pd.unique(read_variant_table(prefix)["chromosome"].astype(str))
    flags = [is_x_chromosome(c) for c in chroms]
    if any(flags) and not all(flags):
        others = [c for c, f in zip(chroms, flags, strict=True) if not f]
        raise InputError(
            f"{bim_path}: chromosome X is mixed with {', '.join(others[:5])}; give X its own "
            "file set (plink2 --chr X --make-bed)"
        )
    return bool(flags) and all(flags)


def gwas_chromosome(
    embeddings_path: str | os.PathLike,
    bfile_prefix: str | os.PathLike,
    out_path: str | os.PathLike,
    cfg: dict | None,
    covariates: pd.DataFrame | None = None,
    threads: int = 1,
    seed: int | None = None,
    covariate_columns: list[str] | None = None,
    hwe_groups: pd.DataFrame | None = None,
) -> dict:
    """One GWAS shard of one genotype file set (one chromosome): gwas_shard of that file set;
    returns its counts."""
    counts = gwas_shard(
        embeddings_path,
        [bfile_prefix],
        out_path,
        cfg,
        covariates,
        threads,
        seed,
        covariate_columns,
        hwe_groups,
    )
    return counts[0]


def gwas_shard(
    embeddings_path: str | os.PathLike,
    bfile_prefixes: list,
    out_path: str | os.PathLike,
    cfg: dict | None,
    covariates: pd.DataFrame | None = None,
    threads: int = 1,
    seed: int | None = None,
    covariate_columns: list[str] | None = None,
    hwe_groups: pd.DataFrame | None = None,
) -> list[dict]:
    """One GWAS shard: test genotype file sets (e.g. the chromosomes of one job) in turn, write
    one Parquet of their summary statistics in that order; returns each file set's counts.
    ``covariate_columns`` (columns of the ``covariates`` table; default the config's one
    covariate set) are partialled out of the embeddings and the genotypes; ``hwe_groups``
    (hwe_groups_table of the cohort) saves finding the HWE groups again.

    The set-up (embeddings, covariates, whitened basis, HWE groups) is done once for the file
    sets with the same sample ids (the autosomes of a cohort; chromosome X has its own, with
    sex), so a shard of several chromosomes writes exactly the rows of one shard per
    chromosome, at one set-up's cost."""
    cfg = section("gwas", cfg)
    seed = defaults("seed") if seed is None else int(seed)
    if not bfile_prefixes:
        raise InputError("GWAS shard: no genotype file set to test")
    frames: list[pd.DataFrame] = []
    counts: list[dict] = []
    setup, setup_key = None, None
    for prefix in bfile_prefixes:
        x = x_file_set(prefix)
        sex = read_sex_codes(prefix) if x else None
        ids = np.asarray(read_sample_ids(prefix))
        key = (ids, sex)
        same = (
            setup is not None
            and np.array_equal(ids, setup_key[0])
            and (sex is None) == (setup_key[1] is None)
            and (sex is None or np.array_equal(sex, setup_key[1]))
        )
        if not same:
            setup_key = key
            setup = prepare_analysis(
                embeddings_path,
                ids,
                cfg,
                covariates,
                str(sample_file(prefix)),
                seed,
                covariate_columns,
                x_sex=sex,
                hwe_groups=hwe_groups,
            )
        basis, fam_idx, _, _, groups = setup
        male = sex.astype(str)[fam_idx] == "1" if x else None
        if x:
            log.info(
                "%s: chromosome X, %d men (coded 0/2) and %d women; sex added as a covariate",
                prefix,
                int(male.sum()),
                int((~male).sum()),
            )
        frame, count = gwas_frame(basis, prefix, fam_idx, cfg, threads, groups, male)
        frames.append(frame)
        counts.append(count)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    with atomic_path(out_path, suffix=".parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    return counts

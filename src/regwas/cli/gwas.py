"""`regwas gwas`: latent-space GWAS of embeddings on genotypes (PLINK 1, PLINK 2, BGEN)."""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from regwas.associate.gwas.clump import lead_variants
from regwas.associate.gwas.merge import merge_shards
from regwas.associate.gwas.shards import gwas_shard
from regwas.config.schema import defaults
from regwas.errors import InputError
from regwas.genetics.chromosomes import parse_chromosomes
from regwas.io.genotypes import genotype_paths
from regwas.io.sumstats import read_sumstats
from regwas.io.tables import read_tsv

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `regwas gwas`; defaults from the config schema's gwas section."""
    cfg = defaults("gwas")
    parser.add_argument("--embeddings", required=True, help="embeddings.parquet (sample_id, z*)")
    parser.add_argument(
        "--bfile",
        required=True,
        action="append",
        help="genotype prefix (repeatable): PLINK 1 .bed, PLINK 2 .pgen or BGEN 1.2 + .sample, "
        "found by extension or named with it; may contain {chrom} with --chromosomes",
    )
    parser.add_argument("--chromosomes", help="chromosomes for {chrom}, e.g. 1-22 or 1-22,X")
    parser.add_argument(
        "--covariates",
        help="covariates table (TSV with sample_id; the cohort stage's samples.tsv has "
        "age, sex, site and PC1..PCk). Without it the model has an intercept only (warned; "
        "refused for embeddings that adjust took covariates out of)",
    )
    cov = ",".join(defaults("covariates"))
    parser.add_argument(
        "--covariate-cols",
        help="comma-separated columns of --covariates, partialled out of embeddings and "
        f"genotypes; must include every covariate adjust removed (default, the config's "
        f"covariates: {cov})",
    )
    parser.add_argument("--model", choices=["additive", "genotypic"], default=cfg["model"])
    parser.add_argument(
        "--intersect-samples",
        action="store_true",
        help="analyse samples common to all inputs instead of failing",
    )
    parser.add_argument("--backend", choices=["numpy", "torch", "auto"], default=cfg["backend"])
    parser.add_argument(
        "--precision",
        choices=["float64", "mixed"],
        default=cfg["precision"],
        help="mixed: float32 screen, variants with -log10 p >= --refine-above re-tested in float64",
    )
    parser.add_argument("--refine-above", type=float, default=cfg["refine_above"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-maf", type=float, default=cfg["min_maf"])
    parser.add_argument("--min-mac", type=float, default=cfg["min_mac"])
    parser.add_argument("--min-call-rate", type=float, default=cfg["min_call_rate"])
    parser.add_argument(
        "--min-info",
        type=float,
        default=cfg["min_info"],
        help="minimum MACH R2 (INFO) of variants with dosages (.pgen dosages, BGEN)",
    )
    parser.add_argument("--hwe-p", type=float, default=cfg["hwe_p"])
    parser.add_argument(
        "--hwe-groups",
        default=cfg["hwe_groups"],
        help="HWE within groups: pcs (ancestry clusters of PC1..; needs --covariates with PCs), "
        f"none (pooled) or a column of --covariates (default {cfg['hwe_groups']})",
    )
    parser.add_argument("--seed", type=int, default=defaults("seed"), help="ancestry clustering")
    parser.add_argument("--block-size", type=int, default=cfg["block_size"])
    parser.add_argument("--lead-variants", help="also write clumped lead variants (TSV)")
    parser.add_argument(
        "--clump", choices=["distance", "ld", "both"], default=cfg["clump"]["method"]
    )
    parser.add_argument("--out", required=True, help="merged summary statistics (.tsv.gz)")


def run(args: argparse.Namespace) -> int:
    """`regwas gwas`: every file set tested in one shard (temporary Parquet), merged into --out."""
    prefixes: list[str] = []
    for prefix in args.bfile:
        if "{chrom}" in prefix:
            if not args.chromosomes:
                raise InputError(f"--bfile {prefix} contains {{chrom}}: give --chromosomes")
            prefixes.extend(
                prefix.replace("{chrom}", c) for c in parse_chromosomes(args.chromosomes)
            )
        else:
            prefixes.append(prefix)
    for prefix in prefixes:  # fail before any work when a file set is missing
        genotype_paths(prefix)
    cfg = {
        "model": args.model,
        "backend": args.backend,
        "precision": args.precision,
        "refine_above": args.refine_above,
        "intersect_samples": bool(args.intersect_samples),
        "min_maf": args.min_maf,
        "min_mac": args.min_mac,
        "min_call_rate": args.min_call_rate,
        "min_info": args.min_info,
        "hwe_p": args.hwe_p,
        "hwe_groups": args.hwe_groups,
        "block_size": args.block_size,
        "clump": {"method": args.clump},
    }
    covariates = None
    if args.covariate_cols and not args.covariates:
        raise InputError("--covariate-cols names columns of --covariates: give --covariates too")
    if not args.covariates:
        log.warning(
            "no --covariates: intercept-only model (no age, sex or genetic PCs are partialled "
            "out); pass --covariates results/cohort/samples.tsv to adjust for %s",
            ",".join(defaults("covariates")),
        )
    columns = None
    if args.covariates:
        covariates = read_tsv(args.covariates, dtype={"sample_id": str})
        if args.covariate_cols:
            columns = [c.strip() for c in args.covariate_cols.split(",") if c.strip()]
    out = Path(args.out)
    with tempfile.TemporaryDirectory(
        prefix=".regwas-gwas-", dir=out.parent if out.parent.exists() else None
    ) as tmp:
        # one shard of every file set: one set-up (embeddings, basis, HWE groups) for all
        shard = Path(tmp) / "shard.parquet"
        gwas_shard(
            args.embeddings, prefixes, shard, cfg, covariates, args.threads, args.seed, columns
        )
        summary = merge_shards([shard], out, cfg)
    print(
        f"regwas gwas: {summary['n_variants']} variants, {summary['n_significant']} with "
        f"p < {defaults('gwas.p_threshold'):g}, lambda GC {summary['lambda_gc']:.4f} -> {out}"
    )
    if args.lead_variants:
        pattern = prefixes[0] if len(prefixes) == 1 else None
        if pattern is None and len(args.bfile) == 1 and "{chrom}" in args.bfile[0]:
            pattern = args.bfile[0]
        lead_variants(read_sumstats(out), cfg, pattern, args.embeddings, args.lead_variants)
    return 0

"""`regwas cohort`: validate a cohort's inputs, remove relatives and compute genetic PCs."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from regwas.cohort.prepare import prepare_cohort
from regwas.config.schema import defaults
from regwas.errors import InputError
from regwas.genetics.chromosomes import parse_chromosomes
from regwas.genetics.pca import PRUNE_METHODS

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `regwas cohort`; defaults from the config schema (cohort_qc)."""
    pca = defaults("cohort_qc.pca")
    rel = defaults("cohort_qc.relatedness")
    parser.add_argument("--samples", required=True, help="samples.tsv")
    parser.add_argument("--diagnoses", required=True, help="diagnoses.tsv (sample_id, icd10)")
    parser.add_argument("--genotypes", required=True, help="PLINK prefix pattern with {chrom}")
    parser.add_argument(
        "--manifest",
        action="append",
        default=[],
        metavar="MODALITY=PATH",
        help="a manifest of ecg, brain, cardiac or dxa (repeatable), e.g. ecg=ecg.manifest.tsv",
    )
    chromosomes = "1-22"  # the autosomes of a real cohort (the workflow's default for files)
    parser.add_argument(
        "--chromosomes", default=chromosomes, help=f"e.g. 1-22 or 1,2,5-7 (default {chromosomes})"
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--n-pcs", type=int, default=pca["n_pcs"])
    parser.add_argument("--max-variants", type=int, default=pca["max_variants"])
    parser.add_argument("--prune", choices=PRUNE_METHODS, default=pca["prune"])
    parser.add_argument(
        "--build",
        default=pca["build"],
        help="genome build (GRCh37 or GRCh38): exclude its long-range LD regions from the PCs",
    )
    parser.add_argument(
        "--king-cutoff",
        type=float,
        default=rel["king_cutoff"],
        help=f"remove one of each pair with KING kinship above this (default {rel['king_cutoff']})",
    )
    parser.add_argument(
        "--keep", default=rel["keep_file"], help="unrelated sample ids to keep instead of KING"
    )
    parser.add_argument("--no-relatedness", action="store_true", help="keep relatives")
    parser.add_argument("--drop-unmatched-samples", action="store_true")
    parser.add_argument(
        "--no-check-files",
        action="store_true",
        help="only check that manifest files exist (skip reading NIfTI / WFDB headers)",
    )
    parser.add_argument(
        "--ecg-fs", type=float, default=None, help="sampling rate every ECG record must have, Hz"
    )
    parser.add_argument(
        "--ecg-leads",
        default=None,
        help="comma-separated lead names, in order, every ECG record must have (e.g. I,II,V1)",
    )
    parser.add_argument("--seed", type=int, default=defaults("seed"))
    parser.add_argument("--threads", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    """Run the cohort stage from the command line."""
    manifests = {}
    for item in args.manifest:
        mod, sep, path = item.partition("=")
        if not sep or not mod or not path:
            raise InputError(f"--manifest {item!r}: expected MODALITY=PATH")
        if mod in manifests:
            raise InputError(f"--manifest: modality {mod!r} given twice")
        manifests[mod] = path
    cfg = {
        "drop_unmatched_samples": args.drop_unmatched_samples,
        "check_files": not args.no_check_files,
        "ecg_fs": args.ecg_fs,
        "ecg_leads": None if args.ecg_leads is None else args.ecg_leads.split(","),
        "pca": {
            "n_pcs": args.n_pcs,
            "max_variants": args.max_variants,
            "prune": args.prune,
            "build": args.build,
        },
        "relatedness": {
            "enabled": not args.no_relatedness,
            "king_cutoff": args.king_cutoff,
            "keep_file": args.keep,
        },
    }
    inputs = {
        "genotypes": args.genotypes,
        "samples": args.samples,
        "diagnoses": args.diagnoses,
        "manifests": manifests,
    }
    summary = prepare_cohort(
        inputs, parse_chromosomes(args.chromosomes), cfg, Path(args.out), args.seed, args.threads
    )
    logger.info("summary: %s", summary)
    return 0

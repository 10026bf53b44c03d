"""`regwas phewas`: PheWAS of embeddings on phecodes."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from regwas.associate.phewas.association import phewas
from regwas.cli.entry import add_embedding_io
from regwas.cohort.tables import validate_table
from regwas.config.schema import defaults
from regwas.io.embeddings import read_embeddings
from regwas.io.tables import read_tsv, write_tsv

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI: regwas phewas --embeddings E --samples S --diagnoses D --out OUT.tsv ...

    Defaults from the config schema's phewas section and seed."""
    cfg = defaults("phewas")
    add_embedding_io(parser, "samples.tsv (sample_id, covariates)", "output phewas.tsv")
    parser.add_argument("--diagnoses", required=True, help="diagnoses.tsv (sample_id, icd10)")
    parser.add_argument("--min-cases", type=int, default=cfg["min_cases"])
    parser.add_argument(
        "--covariates",
        default=None,
        help="comma-separated covariates; the set adjust removed from the embeddings (default, "
        "the config's covariates: " + ",".join(defaults("covariates")) + ")",
    )
    parser.add_argument("--exclusion", choices=["family", "none"], default=cfg["exclusion"])


def run(args: argparse.Namespace) -> int:
    """Run the phewas subcommand."""
    cfg: dict[str, Any] = {"min_cases": args.min_cases, "exclusion": args.exclusion}
    covariates = None
    if args.covariates is not None:
        covariates = [s.strip() for s in args.covariates.split(",") if s.strip()]
    ids, z, _ = read_embeddings(args.embeddings)
    samples = read_tsv(args.samples, dtype={"sample_id": str})
    # checked as the cohort stage checks it: file, line and sample_id of a bad code; an empty
    # table refused in the same words
    diagnoses = validate_table(args.diagnoses, "diagnoses")
    write_tsv(phewas(ids, z, samples, diagnoses, cfg, args.seed, covariates), args.out)
    return 0

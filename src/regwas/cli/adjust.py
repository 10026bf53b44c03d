"""`regwas adjust`: remove confounders from embeddings."""

from __future__ import annotations

import argparse
import logging

from regwas.adjust.confounders import METHODS, adjust_file
from regwas.cli.entry import add_embedding_io
from regwas.config.schema import defaults

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI: regwas adjust --embeddings E --samples S --method M --covariates a,b --out OUT.

    Defaults from the config schema's adjust section and seed."""
    cfg = defaults("adjust")
    add_embedding_io(
        parser, "samples.tsv (sample_id + covariates)", "output embeddings.adjusted.parquet"
    )
    parser.add_argument("--method", choices=METHODS, default=cfg["method"])
    parser.add_argument(
        "--covariates",
        default=",".join(defaults("covariates")),
        help="comma-separated confounder columns; give the GWAS and PheWAS the same set "
        "(default, the config's covariates: %(default)s)",
    )
    parser.add_argument("--r2-threshold", type=float, default=cfg["r2_threshold"])
    parser.add_argument("--max-iterations", type=int, default=cfg["max_iterations"])
    parser.add_argument("--report", default=None, help="JSON report (default: beside --out)")


def run(args: argparse.Namespace) -> int:
    """Run the adjust subcommand."""
    cfg = {
        "method": args.method,
        "r2_threshold": args.r2_threshold,
        "max_iterations": args.max_iterations,
    }
    covariates = [c.strip() for c in args.covariates.split(",") if c.strip()]
    report = adjust_file(
        args.embeddings, args.samples, args.out, cfg, args.seed, args.report, covariates
    )
    log.info("adjust: %s, held-out R² after: %s", report["method"], report["heldout_r2_after"])
    return 0

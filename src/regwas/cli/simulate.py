"""`regwas simulate`: the synthetic biobank into a folder."""

from __future__ import annotations

import argparse
import logging

from regwas.simulate.cohort import load_simulate_config, simulate

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `regwas simulate`."""
    parser.add_argument("--config", required=True, help="workflow config YAML (section simulate)")
    parser.add_argument(
        "--out",
        required=True,
        help="output folder: new, empty, or a previous `regwas simulate` output (replaced on "
        "success; a folder holding anything else is refused)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace --out even if it holds files regwas did not write (never the working "
        "directory)",
    )
    parser.add_argument("--threads", type=int, default=1, help="processes for chromosomes")
    parser.add_argument("--seed", type=int, default=None, help="override the config's seed")


def run(args: argparse.Namespace) -> int:
    """`regwas simulate --config FILE --out DIR [--threads N] [--seed S]`."""
    logging.getLogger("msprime").setLevel(logging.WARNING)  # one INFO line per event otherwise
    section, seed = load_simulate_config(args.config)
    if args.seed is not None:
        seed = args.seed
    simulate(section, seed, args.out, threads=args.threads, force=args.force)
    return 0

"""`regwas bundle {verify,diff}`: check a publication bundle, compare two bundles."""

from __future__ import annotations

import argparse
import sys

from regwas.publish.diff import diff_bundles
from regwas.publish.verify import read_sample_ids, verify_bundle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`regwas bundle {verify,diff}` arguments."""
    sub = parser.add_subparsers(dest="bundle_command", required=True, metavar="ACTION")
    p = sub.add_parser(
        "verify",
        help="check the manifest and scan every file for individual-level data",
        description="Exit status 0: the manifest matches and no file holds a sample id, a "
        "table with one row per person or an array with the cohort's row count; 1: problems, "
        "one line each naming the file.",
    )
    p.add_argument("bundle", help="the .tar.gz written by the bundle rule")
    p.add_argument(
        "--samples",
        help="the cohort's samples table (sample_id column) or a file of one id per line; "
        "without it, no id scan and N from provenance/cohort.json",
    )
    p.add_argument(
        "--allow-individual-level",
        action="store_true",
        help="do not report files under individual/ (a bundle whose config opted in)",
    )
    p = sub.add_parser(
        "diff",
        help="do two bundles hold the same results; which files differ",
        description="Exit status 0: the result files are identical; 1: they differ. Provenance, "
        "config, report and README differences are listed as context.",
    )
    p.add_argument("a")
    p.add_argument("b")


def run(args: argparse.Namespace) -> int:
    """Run `regwas bundle verify` or `regwas bundle diff`."""
    if args.bundle_command == "verify":
        ids = read_sample_ids(args.samples) if args.samples else None
        problems = verify_bundle(args.bundle, ids, allow_individual=args.allow_individual_level)
        for problem in problems:
            print(f"{args.bundle}: {problem}", file=sys.stderr)
        if problems:
            print(f"{args.bundle}: FAILED ({len(problems)} problems)", file=sys.stderr)
            return 1
        print(f"{args.bundle}: OK (manifest matches; no individual-level data found)")
        return 0
    diff = diff_bundles(args.a, args.b)
    print("\n".join(diff.lines(args.a, args.b)))
    return 0 if diff.results_identical() else 1

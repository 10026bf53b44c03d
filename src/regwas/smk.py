"""Glue for the workflow's rule scripts: logging to the rule's log file and clean failures."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from regwas.errors import InputError


def run_script(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Run ``main(snakemake)`` with logging sent to the rule's log file and to stderr.

    The log file gets everything; stderr (the terminal, or SLURM's job log) only warnings and
    errors when there is a log file, so that a run's output stays readable. A user-caused
    error (InputError) is logged as one clear line and the job fails without a traceback; the
    library's atomic writers leave no half-written outputs behind.
    """
    stderr = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [stderr]
    if snakemake.log:
        stderr.setLevel(logging.WARNING)
        handlers.append(logging.FileHandler(str(snakemake.log[0]), mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    for noisy in ("msprime", "matplotlib", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        main(snakemake)
    except InputError as err:
        logging.getLogger("regwas").error("rule %s: %s", snakemake.rule, err)
        raise SystemExit(1) from None

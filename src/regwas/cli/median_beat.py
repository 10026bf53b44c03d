"""`regwas median-beat`: the median beat of one WFDB record."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from regwas.config.schema import defaults
from regwas.io.atomic import atomic_path
from regwas.register.ecg.beats import median_beat
from regwas.register.ecg.records import read_record

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `regwas median-beat`; defaults from the config schema's ecg.median_beat."""
    cfg = defaults("ecg.median_beat")
    parser.add_argument("record", help="WFDB record path without extension")
    parser.add_argument("--out", required=True, type=Path, help="output .npy (leads x samples)")
    parser.add_argument("--fs", type=float, default=cfg["fs"], help="output rate, Hz")
    parser.add_argument("--length", type=int, default=cfg["length"], help="samples")
    parser.add_argument(
        "--pre-r", type=int, default=cfg["pre_r"], help="index of the R peak in the output"
    )


def run(args: argparse.Namespace) -> int:
    """Median beat of one record -> float32 .npy; prints the QC as JSON."""
    cfg = {"fs": args.fs, "length": args.length, "pre_r": args.pre_r}
    sig, fs, names = read_record(args.record)
    beat, qc = median_beat(sig, fs, cfg, name=str(args.record))
    with atomic_path(args.out, suffix=".npy") as tmp:
        np.save(tmp, beat)
    print(json.dumps({"record": str(args.record), "leads": names, "shape": beat.shape, **qc}))
    return 0

"""`regwas store`: an array store from a manifest, as the workflow's registration rules build it
(ecg native / median_beat, brain native), so that `regwas embed` is reachable without
Snakemake."""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from regwas.cohort.tables import validate_table
from regwas.config.schema import defaults, load_config, section
from regwas.errors import InputError
from regwas.io.tables import read_tsv

log = logging.getLogger(__name__)

#: (modality, space) -> what the store holds (the spaces `regwas store` builds)
SPACES = {
    ("ecg", "native"): "the full recordings, leads x samples, as recorded",
    ("ecg", "median_beat"): "the median beat of each record (config ecg.median_beat)",
    ("brain", "native"): "each image resampled onto the common grid, unaligned (config brain)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `regwas store`."""
    parser.add_argument(
        "--manifest", required=True, help="a modality's manifest (sample_id, path, ...)"
    )
    parser.add_argument("--modality", required=True, choices=sorted({m for m, _ in SPACES}))
    parser.add_argument(
        "--space",
        required=True,
        help="; ".join(f"{m} {s}: {what}" for (m, s), what in SPACES.items()),
    )
    parser.add_argument("--out", required=True, help="the store's folder (data.npy, samples.tsv)")
    parser.add_argument(
        "--config",
        help="workflow config YAML whose ecg / brain section to use (default: the schema's)",
    )
    parser.add_argument(
        "--template",
        help="brain: a template folder (the workflow's results/brain/template); default: "
        "built from the config's brain.template into a temporary folder",
    )
    parser.add_argument("--threads", type=int, default=1, help="processes (ECG)")


def run(args: argparse.Namespace) -> int:
    """Build the store; prints its shape."""
    key = (args.modality, args.space)
    if key not in SPACES:
        known = ", ".join(s for m, s in SPACES if m == args.modality)
        raise InputError(
            f"--space {args.space!r}: `regwas store` builds {args.modality} spaces {known} "
            "(registered spaces come from the workflow)"
        )
    manifest = Path(args.manifest)
    if not manifest.is_file():
        raise InputError(f"{manifest}: manifest does not exist")
    # checked as the cohort stage checks it: file, line and sample_id of a bad row
    validate_table(manifest, "manifest")
    config = load_config(args.config) if args.config else {}
    if args.modality == "ecg":
        from regwas.register.ecg.stores import build_median_beat, build_native

        table = read_tsv(manifest, dtype=str)
        if args.space == "native":
            build_native(table, manifest.parent, args.out, args.threads)
        else:
            cfg = section("ecg.median_beat", config.get("ecg", {}).get("median_beat"))
            build_median_beat(table, manifest.parent, cfg, args.out, args.threads)
    else:
        from regwas.register.image.stores import build_native, build_template

        cfg = section("brain", config.get("brain"))
        if args.template:
            build_native(manifest, args.template, cfg, args.out)
        else:
            with tempfile.TemporaryDirectory(prefix="regwas-template-") as tmp:
                build_template(manifest, cfg, int(config.get("seed", defaults("seed"))), tmp)
                build_native(manifest, tmp, cfg, args.out)
    from regwas.io.arraystore import ArrayStore

    store = ArrayStore(args.out)
    print(f"{args.out}: {store.n} rows of shape {tuple(store.row_shape)} ({args.space})")
    return 0

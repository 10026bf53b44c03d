"""Rule ecg_median_beat: ECG registration by median beat."""

from pathlib import Path

from regwas.io.tables import read_tsv
from regwas.register.ecg.stores import build_median_beat
from regwas.smk import run_script


def main(smk):
    manifest = read_tsv(smk.input.manifest, dtype=str)
    build_median_beat(
        manifest,
        Path(smk.input.manifest).parent,
        smk.params.cfg,
        Path(smk.output.data).parent,
        smk.threads,
    )


run_script(snakemake, main)

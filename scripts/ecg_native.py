"""Rule ecg_native: the full 10 s ECGs as one array store."""

from pathlib import Path

from regwas.io.tables import read_tsv
from regwas.register.ecg.stores import build_native
from regwas.smk import run_script


def main(smk):
    manifest = read_tsv(smk.input.manifest, dtype=str)
    build_native(
        manifest, Path(smk.input.manifest).parent, Path(smk.output.data).parent, smk.threads
    )


run_script(snakemake, main)

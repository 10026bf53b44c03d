"""Rule cardiac_native: every cine's frames in acquisition order, one array store."""

from pathlib import Path

from regwas.register.cine.stores import build_cardiac_native
from regwas.smk import run_script


def main(smk):
    build_cardiac_native(smk.input.manifest, smk.params.cfg, Path(smk.output.data).parent)


run_script(snakemake, main)

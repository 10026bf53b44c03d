"""Rule dxa_native: every DXA image as scanned, one array store."""

from pathlib import Path

from regwas.register.image.dxa import build_dxa_native
from regwas.smk import run_script


def main(smk):
    build_dxa_native(smk.input.manifest, smk.input.samples, Path(smk.output.data).parent)


run_script(snakemake, main)

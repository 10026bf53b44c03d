"""Rule brain_native: every brain image resampled onto the common grid (no alignment)."""

from pathlib import Path

from regwas.register.image.stores import build_native
from regwas.smk import run_script


def main(smk):
    build_native(
        smk.input.manifest, smk.input.template, smk.params.cfg, Path(smk.output.data).parent
    )


run_script(snakemake, main)

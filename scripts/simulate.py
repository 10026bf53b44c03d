"""Rule simulate: write the embedded synthetic biobank."""

from pathlib import Path

from regwas.simulate.cohort import simulate
from regwas.smk import run_script


def main(smk):
    simulate(smk.params.cfg, smk.params.seed, Path(smk.output.samples).parent, smk.threads)


run_script(snakemake, main)

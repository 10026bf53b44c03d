"""Rule cohort: validate the inputs and compute genetic principal components."""

from pathlib import Path

from regwas.cohort.prepare import prepare_cohort
from regwas.smk import run_script


def main(smk):
    prepare_cohort(
        smk.params.inputs,
        list(smk.params.chromosomes),
        smk.params.cfg,
        Path(smk.output.samples).parent,
        smk.params.seed,
        smk.threads,
    )


run_script(snakemake, main)

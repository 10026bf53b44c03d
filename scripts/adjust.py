"""Rule adjust: remove confounders from the embeddings."""

from regwas.adjust.confounders import adjust_file
from regwas.smk import run_script


def main(smk):
    adjust_file(
        smk.input.embeddings,
        smk.input.samples,
        smk.output.embeddings,
        smk.params.cfg,
        smk.params.seed,
        report_path=smk.output.report,
        covariates=list(smk.params.covariates),
    )


run_script(snakemake, main)

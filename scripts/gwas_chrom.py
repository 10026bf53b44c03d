"""Rule gwas_chrom: latent GWAS of one chromosome."""

from regwas.associate.gwas.shards import gwas_chromosome
from regwas.io.tables import read_tsv
from regwas.smk import run_script


def main(smk):
    covariates = read_tsv(smk.input.samples, dtype={"sample_id": str})
    gwas_chromosome(
        smk.input.embeddings,
        smk.params.bfile,
        smk.output[0],
        smk.params.cfg,
        covariates=covariates,
        threads=smk.threads,
        seed=smk.params.seed,
        covariate_columns=list(smk.params.covariates),
    )


run_script(snakemake, main)

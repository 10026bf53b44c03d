"""Rule gwas_chrom: latent GWAS of one shard of chromosomes (one set-up, one Parquet)."""

from regwas.associate.gwas.shards import gwas_shard
from regwas.io.tables import read_tsv
from regwas.smk import run_script


def main(smk):
    covariates = read_tsv(smk.input.samples, dtype={"sample_id": str})
    hwe_groups = read_tsv(smk.input.hwe_groups, dtype={"sample_id": str})
    gwas_shard(
        smk.input.embeddings,
        list(smk.params.bfiles),
        smk.output[0],
        smk.params.cfg,
        covariates=covariates,
        threads=smk.threads,
        seed=smk.params.seed,
        covariate_columns=list(smk.params.covariates),
        hwe_groups=hwe_groups,
    )


run_script(snakemake, main)

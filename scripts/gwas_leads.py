"""Rule gwas_leads: clump lead variants, their latent directions and clustering."""

from regwas.associate.gwas.clump import lead_variants
from regwas.io.sumstats import read_sumstats
from regwas.smk import run_script


def main(smk):
    gwas = read_sumstats(smk.input.gwas)
    lead_variants(
        gwas,
        smk.params.cfg,
        smk.params.bfile_pattern,
        smk.input.embeddings,
        smk.output.leads,
        out_linkage=smk.output.linkage,
    )


run_script(snakemake, main)

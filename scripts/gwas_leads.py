"""Rule gwas_leads: clump lead variants, their latent directions and clustering."""

import pandas as pd

from regwas.associate.gwas.clump import lead_variants
from regwas.smk import run_script


def main(smk):
    gwas = pd.read_csv(smk.input.gwas, sep="\t", dtype={"chromosome": str})
    lead_variants(
        gwas,
        smk.params.cfg,
        smk.params.bfile_pattern,
        smk.input.embeddings,
        smk.output.leads,
        out_linkage=smk.output.linkage,
    )


run_script(snakemake, main)

"""Rule hwe_groups: the HWE groups of the whole cohort, found once for every GWAS job."""

from regwas.associate.gwas.shards import hwe_groups_table
from regwas.io.tables import read_tsv, write_tsv
from regwas.smk import run_script


def main(smk):
    samples = read_tsv(smk.input.samples, dtype={"sample_id": str})
    table = hwe_groups_table(samples, smk.params.cfg, smk.params.seed)
    write_tsv(table, smk.output[0])


run_script(snakemake, main)

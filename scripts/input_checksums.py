"""Rule input_checksums: streamed sha256 of every input file of the cohort."""

from regwas.io.tables import write_tsv
from regwas.publish.provenance import input_checksums
from regwas.smk import run_script


def main(smk):
    table = input_checksums(smk.input.files, manifests=smk.input.manifests)
    write_tsv(table, smk.output[0])


run_script(snakemake, main)

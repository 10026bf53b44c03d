"""Rule resources: time and memory per rule from the benchmark files."""

from regwas.io.tables import write_tsv
from regwas.report.resources import resource_table
from regwas.smk import run_script


def main(smk):
    write_tsv(resource_table(smk.params.benchmarks), smk.output[0])


run_script(snakemake, main)

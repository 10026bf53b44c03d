"""Rule report_tables: the comparison, headline and resource tables as HTML for the report."""

from regwas.report.tables import write_table_html
from regwas.smk import run_script


def main(smk):
    for key, title in smk.params.titles.items():
        write_table_html(smk.input[key], smk.output[key], title)


run_script(snakemake, main)

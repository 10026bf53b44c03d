"""Rule headline: did registration help? The table and figure over every modality."""

from regwas.io.tables import write_tsv
from regwas.report.headline import read_headline_inputs, write_headline
from regwas.smk import run_script


def main(smk):
    keys = [tuple(k.split("/")) for k in smk.params.probe_keys]
    table = read_headline_inputs(
        smk.input.comparison,
        dict(zip(keys, smk.input.probes, strict=True)),
        smk.input.probe_comparison,
    )
    write_tsv(table, smk.output.table)
    write_headline(table, smk.output.png.removesuffix(".png"))


run_script(snakemake, main)

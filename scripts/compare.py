"""Rule compare: one row per modality x space, registered vs native."""

from regwas.compare.spaces import compare_spaces
from regwas.io.tables import write_tsv
from regwas.smk import run_script


def main(smk):
    table, probe_table = compare_spaces(
        smk.params.spaces,
        smk.params.cfg,
        causal_path=smk.input.get("causal"),
        diseases_path=smk.input.get("diseases"),
        probes_cfg=smk.params.probes_cfg,
        seed=smk.params.seed,
    )
    write_tsv(table, smk.output.table)
    write_tsv(probe_table, smk.output.probes)


run_script(snakemake, main)

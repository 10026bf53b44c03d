"""Rule compare: one row per modality x space, registered vs native."""

from regwas.compare.spaces import compare_spaces
from regwas.io.tables import write_tsv
from regwas.smk import run_script

KINDS = ("gwas", "summary", "leads", "phewas", "probes", "samples", "embeddings")


def main(smk):
    # the named input lists hold one file per (modality, space), in the order of params.spaces
    files: dict = {}
    for i, (modality, space) in enumerate(smk.params.spaces):
        files.setdefault(modality, {})[space] = {kind: smk.input[kind][i] for kind in KINDS}
    table, probe_table = compare_spaces(
        files,
        causal_path=smk.input.get("causal"),
        diseases_path=smk.input.get("diseases"),
        chromosomes=smk.params.chromosomes,
        p_threshold=smk.params.threshold,
        people_files={
            m: (smk.input.people[i], smk.input.exclusions[i])
            for i, m in enumerate(smk.params.modalities)
        },
        clump=smk.params.clump,
        genotypes=smk.params.bfile_pattern,
    )
    write_tsv(table, smk.output.table)
    write_tsv(probe_table, smk.output.probes)


run_script(snakemake, main)

"""Rule probes: cross-validated linear probes of the embedding."""

from regwas.associate.probes import probe_embeddings
from regwas.io.embeddings import read_embeddings
from regwas.io.tables import read_tsv, write_tsv
from regwas.smk import run_script


def main(smk):
    ids, z, _ = read_embeddings(smk.input.embeddings)
    samples = read_tsv(smk.input.samples, dtype={"sample_id": str})
    people = read_tsv(smk.input.people, dtype={"sample_id": str})["sample_id"]
    result = probe_embeddings(ids, z, samples, smk.params.cfg, smk.params.seed, people=people)
    write_tsv(result, smk.output[0])


run_script(snakemake, main)

"""Rule phewas: held-out PheWAS of the embedding on phecodes."""

from regwas.io import read_embeddings, read_tsv, write_tsv
from regwas.phewas import phewas
from regwas.smk import run_script


def main(smk):
    ids, z, _ = read_embeddings(smk.input.embeddings)
    samples = read_tsv(smk.input.samples, dtype={"sample_id": str})
    diagnoses = read_tsv(smk.input.diagnoses, dtype=str)
    result = phewas(ids, z, samples, diagnoses, smk.params.cfg, smk.params.seed)
    write_tsv(result, smk.output[0])


run_script(snakemake, main)

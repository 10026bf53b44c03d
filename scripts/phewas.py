"""Rule phewas: held-out PheWAS of the embedding on phecodes."""

from regwas.associate.phewas.association import phewas
from regwas.io.embeddings import read_embeddings
from regwas.io.tables import read_tsv, write_tsv
from regwas.smk import run_script


def main(smk):
    ids, z, _ = read_embeddings(smk.input.embeddings)
    samples = read_tsv(smk.input.samples, dtype={"sample_id": str})
    diagnoses = read_tsv(smk.input.diagnoses, dtype=str)
    result = phewas(
        ids, z, samples, diagnoses, smk.params.cfg, smk.params.seed, list(smk.params.covariates)
    )
    write_tsv(result, smk.output[0])


run_script(snakemake, main)

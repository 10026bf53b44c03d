"""Checkpoint brain_chunks: which registration chunk each person of the manifest falls in."""

from regwas.register.image.stores import assign_chunks
from regwas.smk import run_script


def main(smk):
    assign_chunks(smk.input.manifest, smk.params.chunk_size, smk.output[0])


run_script(snakemake, main)

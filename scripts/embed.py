"""Rule embed: baseline PCA embeddings of one array store."""

from pathlib import Path

from regwas.represent.pca import embed_store
from regwas.smk import run_script


def main(smk):
    embed_store(
        Path(smk.input.data).parent,
        smk.output[0],
        smk.params.cfg,
        smk.params.seed,
        modality=smk.wildcards.modality,
        space=smk.wildcards.space,
    )


run_script(snakemake, main)

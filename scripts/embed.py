"""Rule embed: embeddings of one array store (represent.method)."""

from pathlib import Path

from regwas.represent.base import embed_store
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

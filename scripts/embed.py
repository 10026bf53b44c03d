"""Rule embed: embeddings of one array store (represent.method)."""

from pathlib import Path

from regwas.represent.base import embed_store
from regwas.smk import run_script


def main(smk):
    if smk.params.cfg["method"] == "autoencoder":
        import torch

        torch.set_num_threads(max(1, int(smk.threads)))
    embed_store(
        Path(smk.input.data).parent,
        smk.output.embeddings,
        smk.params.cfg,
        smk.params.seed,
        modality=smk.wildcards.modality,
        space=smk.wildcards.space,
    )


run_script(snakemake, main)

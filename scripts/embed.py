"""Rules embed and embed_baseline: embeddings of one array store by the method of the analysis
(params.cfg: represent.method, or represent.baseline)."""

from pathlib import Path

from regwas.io.analysis import analysis_space
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
        # the analysis native.pca is the space native (its method is in the metadata)
        space=analysis_space(smk.wildcards.space),
    )


run_script(snakemake, main)

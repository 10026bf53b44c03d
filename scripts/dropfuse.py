"""Rule dropfuse: train DropFuse on the covered modalities' stores; embed each modality."""

from pathlib import Path

from regwas.represent.dropfuse import fuse_stores
from regwas.smk import run_script


def main(smk):
    import torch

    torch.set_num_threads(max(1, int(smk.threads)))
    mods = smk.params.modalities
    fuse_stores(
        {m: Path(d).parent for m, d in zip(mods, smk.input.data, strict=True)},
        Path(smk.output.training_log).parent,
        {m: Path(e).parent for m, e in zip(mods, smk.output.embeddings, strict=True)},
        smk.params.cfg,
        smk.params.seed,
    )


run_script(snakemake, main)

"""Rule brain_voxelmorph_train: train VoxelMorph on the affinely aligned brains."""

from pathlib import Path

from regwas.smk import run_script


def main(smk):
    import torch

    from regwas.register.image.voxelmorph import train_on_store

    torch.set_num_threads(max(1, int(smk.threads)))
    train_on_store(
        Path(smk.input.data).parent,
        smk.input.template,
        smk.params.cfg,
        smk.params.seed,
        smk.output.model,
        history_path=smk.output.history,
    )


run_script(snakemake, main)

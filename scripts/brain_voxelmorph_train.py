"""Rule brain_voxelmorph_train: train VoxelMorph on the affinely aligned brains."""

from pathlib import Path

from regwas.smk import run_script


def main(smk):
    from regwas.register.image.voxelmorph import train_on_store

    train_on_store(
        Path(smk.input.data).parent,
        smk.input.template,
        smk.params.cfg,
        smk.params.seed,
        smk.output[0],
    )


run_script(snakemake, main)

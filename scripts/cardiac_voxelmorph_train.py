"""Rule cardiac_voxelmorph_train: one 2D VoxelMorph trained on (frame, exemplar frame of the
same phase) pairs of the deepcycle cines."""

from pathlib import Path

from regwas.smk import run_script


def main(smk):
    import torch

    from regwas.register.cine.voxelmorph import train_cardiac_voxelmorph

    torch.set_num_threads(max(1, int(smk.threads)))
    train_cardiac_voxelmorph(
        Path(smk.input.data).parent,
        smk.input.samples,
        smk.params.cfg,
        smk.params.seed,
        smk.output.model,
        history_path=smk.output.history,
    )


run_script(snakemake, main)

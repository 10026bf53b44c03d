"""Rule cardiac_voxelmorph_apply: the cardiac voxelmorph and voxelmorph_jac stores from a
trained model."""

from pathlib import Path

from regwas.smk import run_script


def main(smk):
    import torch

    from regwas.register.cine.voxelmorph import apply_cardiac_voxelmorph

    torch.set_num_threads(max(1, int(smk.threads)))
    apply_cardiac_voxelmorph(
        Path(smk.input.data).parent,
        smk.input.samples,
        smk.input.model,
        smk.params.cfg,
        {
            "voxelmorph": Path(smk.output.warped).parent,
            "voxelmorph_jac": Path(smk.output.jac).parent,
        },
    )


run_script(snakemake, main)

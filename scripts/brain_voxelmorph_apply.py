"""Rule brain_voxelmorph_apply: the voxelmorph and voxelmorph_jac stores from a trained model."""

from pathlib import Path

from regwas.smk import run_script


def main(smk):
    import torch

    from regwas.register.image.voxelmorph import apply_to_store

    torch.set_num_threads(max(1, int(smk.threads)))
    apply_to_store(
        Path(smk.input.data).parent,
        smk.input.template,
        smk.input.model,
        smk.params.cfg,
        {
            "voxelmorph": Path(smk.output.warped).parent,
            "voxelmorph_jac": Path(smk.output.jac).parent,
        },
        labels_dir=Path(smk.input.labels[0]).parent if smk.input.labels else None,
        on_failure=smk.params.on_failure,
    )


run_script(snakemake, main)

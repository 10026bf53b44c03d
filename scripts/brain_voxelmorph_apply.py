"""Rule brain_voxelmorph_apply: the voxelmorph and voxelmorph_jac stores from a trained model."""

from pathlib import Path

from regwas.smk import run_script


def main(smk):
    from regwas.register.image.voxelmorph import apply_to_store

    apply_to_store(
        Path(smk.input.data).parent,
        smk.input.template,
        smk.input.model,
        smk.params.cfg,
        {
            "voxelmorph": Path(smk.output.warped).parent,
            "voxelmorph_jac": Path(smk.output.jac).parent,
        },
    )


run_script(snakemake, main)

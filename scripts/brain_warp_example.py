"""Rule brain_warp_example: one subject's non-rigid warp by each method, for the warp grid."""

import os
from pathlib import Path

from regwas.smk import run_script


def main(smk):
    from regwas.register.image.voxelmorph import warp_example

    warp_example(
        smk.input.manifest,
        smk.input.template,
        smk.params.cfg,
        smk.params.seed,
        smk.output[0],
        smk.params.methods,
        affine_dir=Path(smk.input.affine).parent if "affine" in smk.input.keys() else None,
        model_path=smk.input.model if "model" in smk.input.keys() else None,
    )


# ITK reads its thread count once per process, before its first multithreaded call
os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(snakemake.params.cfg["ants"]["threads"])
run_script(snakemake, main)

"""Rule dxa_rigid: every DXA image registered rigidly (ANTs) to the median-BMI exemplar."""

import os
from pathlib import Path

from regwas.smk import run_script


def main(smk):
    from regwas.register.image.dxa import build_dxa_rigid

    build_dxa_rigid(
        smk.input.manifest,
        smk.input.samples,
        smk.params.cfg,
        smk.params.seed,
        Path(smk.output.data).parent,
    )


# ITK reads its thread count once per process, before its first multithreaded call
os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(snakemake.params.cfg.get("threads", 1))
run_script(snakemake, main)

"""Rule brain_ants_chunk: ANTs registration of one chunk of subjects, one store per space."""

import os

from regwas.smk import run_script


def main(smk):
    from regwas.register.image.stores import register_chunk

    register_chunk(
        smk.input.manifest,
        smk.input.chunks,
        int(smk.wildcards.chunk),
        smk.input.template,
        smk.params.spaces,
        smk.params.cfg,
        smk.params.seed,
        smk.output[0],
    )


# ITK reads its thread count once per process, before its first multithreaded call
os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(snakemake.params.cfg["ants"]["threads"])
run_script(snakemake, main)

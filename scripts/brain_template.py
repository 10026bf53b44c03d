"""Rule brain_template: the registration template (MNI152 or a cohort template) and labels."""

import os

from regwas.smk import run_script


def main(smk):
    from regwas.register.image.stores import build_template

    build_template(smk.input.manifest, smk.params.cfg, smk.params.seed, smk.output[0])


# ITK reads its thread count once per process, before its first multithreaded call
os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(snakemake.params.cfg["ants"]["threads"])
run_script(snakemake, main)

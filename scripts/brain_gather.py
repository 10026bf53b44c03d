"""Rule brain_ants_store: the chunks of one registered space concatenated into its store."""

from pathlib import Path

from regwas.register.image.stores import gather_chunks
from regwas.smk import run_script


def main(smk):
    space = smk.wildcards.space
    gather_chunks([Path(d) / space for d in smk.input.chunks], Path(smk.output.data).parent)


run_script(snakemake, main)

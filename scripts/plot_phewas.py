"""Rule plot_phewas: PheWAS QQ by phecode category."""

import pandas as pd

from regwas.plots.phewas import phewas_qq
from regwas.smk import run_script


def main(smk):
    table = pd.read_csv(smk.input[0], sep="\t")
    phewas_qq(table, smk.output.png.removesuffix(".png"), config=smk.params.cfg)


run_script(snakemake, main)

"""Rule plot_manhattan."""

import pandas as pd

from regwas.plots.manhattan_miami import manhattan
from regwas.smk import run_script


def main(smk):
    gwas = pd.read_csv(smk.input.gwas, sep="\t", dtype={"chromosome": str})
    leads = pd.read_csv(smk.input.leads, sep="\t", dtype={"chromosome": str})
    title = f"{smk.wildcards.modality} / {smk.wildcards.space}"
    manhattan(
        gwas,
        smk.output.png.removesuffix(".png"),
        title=title,
        leads=leads,
        threshold=smk.params.threshold,
        config=smk.params.cfg,
    )


run_script(snakemake, main)

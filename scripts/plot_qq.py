"""Rule plot_qq: all spaces of a modality on one QQ plot."""

import pandas as pd

from regwas.plots.qq_plot import qq
from regwas.smk import run_script


def main(smk):
    tables = [pd.read_csv(p, sep="\t", dtype={"chromosome": str}) for p in smk.input]
    qq(
        tables,
        smk.output.png.removesuffix(".png"),
        labels=list(smk.params.labels),
        threshold=smk.params.threshold,
        config=smk.params.cfg,
    )


run_script(snakemake, main)

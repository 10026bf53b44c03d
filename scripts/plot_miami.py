"""Rule plot_miami: registered space up, native (of the same method: native.pca under
median_beat.pca) down."""

import pandas as pd

from regwas.plots.manhattan_miami import miami
from regwas.smk import run_script


def main(smk):
    top = pd.read_csv(smk.input.top, sep="\t", dtype={"chromosome": str})
    bottom = pd.read_csv(smk.input.bottom, sep="\t", dtype={"chromosome": str})
    miami(
        top,
        bottom,
        smk.output.png.removesuffix(".png"),
        top_label=f"{smk.wildcards.modality} {smk.wildcards.space}",
        bottom_label=f"{smk.wildcards.modality} {smk.wildcards.native}",
        threshold=smk.params.threshold,
        config=smk.params.cfg,
    )


run_script(snakemake, main)

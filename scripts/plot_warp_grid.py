"""Rule plot_warp_grid: the template with one subject's warp grid per registration method."""

from regwas.plots.registration import warp_grid
from regwas.smk import run_script


def main(smk):
    warp_grid(smk.input[0], smk.output.png.removesuffix(".png"), config=smk.params.cfg)


run_script(snakemake, main)

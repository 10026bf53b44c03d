"""Rule plot_autoencoder: training curve and held-out reconstructions of one space's model."""

from regwas.plots.autoencoder import autoencoder_plots
from regwas.smk import run_script


def main(smk):
    autoencoder_plots(
        smk.input.training_log,
        smk.input.examples,
        smk.output.png.removesuffix(".png"),
        title=f"{smk.wildcards.modality} / {smk.wildcards.space}: autoencoder",
        config=smk.params.cfg,
    )


run_script(snakemake, main)

"""Rule plot_lead_clusters: lead-variant directions of the DropFuse spaces, clustered."""

from regwas.plots.lead_clusters import lead_cluster_plots
from regwas.smk import run_script


def main(smk):
    mods = smk.params.modalities
    lead_cluster_plots(
        dict(zip(mods, smk.input.leads, strict=True)),
        smk.output.png.removesuffix(".png"),
        smk.params.window_kb,
        truth=smk.input.get("causal"),
        title=f"lead-variant directions in the DropFuse space of {', '.join(mods)}",
        config=smk.params.cfg,
    )


run_script(snakemake, main)

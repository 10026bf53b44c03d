"""Rule plot_overlays: three people as R, G, B in every image space of a modality."""

from pathlib import Path

from regwas.plots.registration import overlays
from regwas.smk import run_script


def main(smk):
    stores = {s: Path(d).parent for s, d in zip(smk.params.spaces, smk.input, strict=True)}
    overlays(
        stores,
        smk.output.png.removesuffix(".png"),
        title=f"{smk.wildcards.modality}: three people as R, G and B",
        config=smk.params.cfg,
    )


run_script(snakemake, main)

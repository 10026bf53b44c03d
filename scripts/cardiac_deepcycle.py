"""Rule cardiac_deepcycle: every cine aligned rigidly to the median-BMI exemplar, DeepCycle
trained on the cohort's cines, frames resampled onto the common phase grid; phase QC against the
simulator's true phase when the cohort is simulated."""

from pathlib import Path

from regwas.register.cine.stores import build_cardiac_deepcycle
from regwas.smk import run_script


def main(smk):
    build_cardiac_deepcycle(
        smk.input.manifest,
        smk.params.cfg,
        smk.params.seed,
        Path(smk.output.data).parent,
        true_phase=smk.input.get("truth"),
        samples_path=smk.input.samples,
    )


run_script(snakemake, main)

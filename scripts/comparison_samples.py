"""Rule comparison_samples: the people every space of a modality holds, and who is left out."""

from pathlib import Path

import pandas as pd

from regwas.io.arraystore import comparison_samples
from regwas.io.tables import read_tsv, write_tsv
from regwas.smk import run_script


def main(smk):
    manifest = read_tsv(smk.input.manifest, dtype={"sample_id": str})
    stores = {s: Path(f).parent for s, f in zip(smk.params.spaces, smk.input.stores, strict=True)}
    people, exclusions = comparison_samples(
        stores, manifest["sample_id"], modality=smk.wildcards.modality
    )
    write_tsv(exclusions, smk.output.exclusions)
    write_tsv(pd.DataFrame({"sample_id": people}), smk.output.people)


run_script(snakemake, main)

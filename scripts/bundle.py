"""Rule bundle: the publication bundle (results, plots, report, provenance) as one .tar.gz."""

from pathlib import Path

from regwas.config import section
from regwas.io.tables import read_tsv
from regwas.publish.bundle import build_bundle
from regwas.publish.provenance import cohort_size, git_state, software_versions
from regwas.smk import run_script


def main(smk):
    cfg = section("bundle", smk.params.cfg)
    files = {str(p): p for p in smk.input.results}
    files.update({f"report/{Path(p).name}": p for p in smk.input.report})
    individual = {}
    if cfg["include_individual_level"]:
        individual = {str(Path(p)).removeprefix("results/"): p for p in smk.input.individual}
    provenance = {
        "software.json": software_versions(),
        "git.json": git_state(smk.params.repo),
        "cohort.json": {"n_people": cohort_size(smk.input.samples)},
        "input_checksums.tsv": Path(smk.input.checksums).read_bytes(),
        "resources.tsv": Path(smk.input.resources).read_bytes(),
    }
    provenance.update({f"envs/{Path(p).name}": Path(p).read_bytes() for p in smk.input.envs})
    read_tsv(smk.input.checksums)  # a readable table, or a clear error naming it
    build_bundle(
        smk.output[0],
        files,
        dict(smk.params.config),
        provenance,
        date=smk.params.date,
        individual=individual,
    )


run_script(snakemake, main)

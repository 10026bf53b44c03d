"""Rule gwas_ssf: one space's summary statistics in GWAS-SSF format, with its metadata."""

from regwas import __version__
from regwas.config import section
from regwas.publish.gwas_ssf import write_gwas_ssf
from regwas.smk import run_script


def main(smk):
    cfg = section("bundle", smk.params.cfg)
    write_gwas_ssf(
        smk.input.gwas,
        smk.output.data,
        {
            "trait": smk.params.trait,
            "genome_assembly": cfg["genome_assembly"],
            "software": f"regwas {__version__}",
            "covariates": list(smk.params.covariates),
            "date": smk.params.date,
            "notes": smk.params.notes,
        },
    )


run_script(snakemake, main)

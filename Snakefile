# regwas: what registration does to learned representations and their genetic associations.
# Usage: see README.md. `snakemake --cores 4` runs the demo config; `snakemake --cores 4 ecg`
# runs one modality. Per-rule threads and resources have one source, the workflow profile
# workflow/profiles/default (auto-loaded through the top-level `profiles` link; snakemake looks
# for profiles/default); rules set only what depends on the config (gwas_chrom's gpu).
import os
import sys

from snakemake.utils import min_version, validate

# the conda env files install regwas from ${REGWAS_ROOT} (pip expands it)
os.environ.setdefault("REGWAS_ROOT", workflow.basedir)

min_version("8.0")


configfile: "config/config.yaml"


# A bad key (a typo at any level, a wrong type, a value out of range) stops the run with one
# line naming the key (and, for a typo, the allowed ones), before Snakemake's own validation,
# whose message prints the whole schema (thousands of lines). Without regwas in Snakemake's
# env, snakemake's validate below still runs.
try:
    from regwas.config.schema import validate_config
    from regwas.errors import InputError
except ImportError:
    validate_config = None
if validate_config is not None:
    try:
        validate_config(config, source="config")
    except InputError as err:
        sys.exit("; ".join(line.strip() for line in str(err).splitlines()))
validate(config, "workflow/schemas/config.schema.yaml")


# the front page of `snakemake --report`, headed by the run's name
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/register.smk"
include: "workflow/rules/represent.smk"
include: "workflow/rules/associate.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/bundle.smk"


rule all:
    default_target: True
    input:
        all_targets(),
        report_targets(),


rule ecg:
    input:
        modality_targets("ecg"),


rule brain:
    input:
        modality_targets("brain"),

"""Stage 1, cohort: input tables validated against their schemas, files checked, sample ids
matched to the genotypes, genetic PCs computed."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "checks": [
            "EXAMPLES",
            "chromosome_prefixes",
            "check_fam_files",
            "check_bed_files",
            "check_file",
            "resolve_manifest_paths",
            "path_columns",
            "check_manifest_files",
        ],
        "prepare": ["prepare_cohort"],
        "tables": ["SCHEMAS", "NA_TOKENS", "MAX_SHOWN", "validate_table"],
    },
)

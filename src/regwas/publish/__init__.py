"""Publication: the deterministic results bundle (bundle), its check for individual-level data
and manifest (verify), the comparison of two bundles (diff), provenance records, and the
summary statistics in the GWAS Catalog's GWAS-SSF format (gwas_ssf)."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "bundle": [
            "DESCRIPTIONS",
            "INDIVIDUAL_WARNING",
            "Member",
            "assemble",
            "build_bundle",
            "bundle_name",
            "describe",
            "part_of",
            "resolve_date",
            "write_bundle",
        ],
        "diff": ["BundleDiff", "diff_bundles", "read_manifest"],
        "gwas_ssf": [
            "SSF_VERSION",
            "SSF_COLUMNS",
            "MANDATORY",
            "chromosome_code",
            "p_value_text",
            "equivalent_beta",
            "to_gwas_ssf",
            "ssf_metadata",
            "write_gwas_ssf",
            "check_gwas_ssf",
            "check_ssf_metadata",
        ],
        "provenance": [
            "CHECKSUM_COLUMNS",
            "cohort_size",
            "git_state",
            "input_checksums",
            "manifest_files",
            "software_versions",
        ],
        "verify": [
            "IdScanner",
            "Problem",
            "check_manifest",
            "read_sample_ids",
            "scan_blob",
            "scan_file",
            "verify_bundle",
        ],
    },
)

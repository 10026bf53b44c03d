"""Shared file contracts: atomic writes, tables, embeddings (Parquet), array stores and genotype
reading (PLINK 1, PLINK 2, BGEN)."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "analysis": ["split_analysis", "analysis_space", "native_analysis"],
        "arraystore": [
            "ArrayStoreWriter",
            "ArrayStore",
            "load_array_store",
            "EXCLUSION_COLUMNS",
            "comparison_samples",
        ],
        "atomic": ["atomic_path", "MARKER", "atomic_dir", "sha256_file", "config_digest"],
        "embeddings": [
            "EMBEDDING_PREFIX",
            "embedding_columns",
            "write_embeddings",
            "read_embeddings_metadata",
            "read_embeddings",
        ],
        "genotypes": [
            "FORMATS",
            "HARD_CALL_THRESHOLD",
            "genotype_format",
            "genotype_file_names",
            "genotype_paths",
            "read_sample_ids",
            "read_sex_codes",
            "sample_file",
            "read_variant_table",
            "read_psam",
            "read_pvar",
            "read_oxford_sample",
            "GenotypeReader",
            "PgenReader",
            "BgenFileReader",
            "hard_calls",
            "open_genotypes",
            "read_genotype_rows",
        ],
        "icd10": ["ICD10_PATTERN", "normalise_icd10"],
        "mni": ["T2_INTENSITY", "Template", "load_template"],
        "phecode_map": ["PACKAGE_MAP", "packaged_map_path", "load_phecode_map"],
        "plink": [
            "FAM_COLUMNS",
            "BIM_COLUMNS",
            "MISSING",
            "bfile_paths",
            "read_fam",
            "read_bim",
            "BedReader",
            "read_variant_rows",
        ],
        "sumstats": ["SUMSTATS_COLUMNS", "read_sumstats", "empty_sumstats", "tested"],
        "tables": ["write_tsv", "read_tsv", "delimiter_hint", "align_samples"],
    },
)

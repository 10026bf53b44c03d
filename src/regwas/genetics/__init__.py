"""Shared genetics: chromosome names, genotype standardisation, KING kinship, genetic PCs,
long-range LD regions, lambda GC."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "ancestry": ["ancestry_groups"],
        "chromosomes": [
            "chromosome_sort_key",
            "normalise_chromosome",
            "chromosome_order",
            "parse_chromosomes",
            "is_x_chromosome",
        ],
        "kinship": ["KING_COLUMNS", "king_kinship", "king_pairs", "king_cutoff"],
        "inflation": ["LN10", "CHI2_1DF_MEDIAN", "lambda_gc"],
        "pca": [
            "PRUNE_METHODS",
            "GENOME_BUILDS",
            "long_range_ld_regions",
            "in_regions",
            "select_pca_variants",
            "randomized_pca",
            "project_pcs",
            "compute_pcs",
        ],
        "standardise": ["genotype_moments", "zscores", "unit_rows", "ld_r2"],
    },
)

"""Stage 5, latent-space GWAS: exact vectorised MANOVA of embeddings on genotypes, one shard
per chromosome or group of chromosomes, merged summary statistics and lead variants."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "clump": [
            "LD_BLOCK",
            "distance_clump",
            "ld_clump",
            "read_variants",
            "analysed_samples",
            "lead_variants",
        ],
        "kernel": [
            "LatentBasis",
            "prepare_basis",
            "latent_rank",
            "EPS_FLOAT32",
            "NumpyBackend",
            "Float32Backend",
            "screened_test",
            "TorchBackend",
            "make_backend",
            "additive_test",
            "genotypic_test",
        ],
        "lead_directions": ["directions", "cluster_directions"],
        "merge": ["merge_shards"],
        "pvalues": ["LN10", "log_betainc", "pillai_pvalues"],
        "qc": ["Counts", "genotype_counts", "hwe_exact_p", "hwe_pass"],
        "shards": [
            "match_samples",
            "drop_constant_dimensions",
            "covariate_columns",
            "prepare_analysis",
            "hwe_group_labels",
            "hwe_groups_table",
            "gwas_frame",
            "gwas_chromosome",
            "gwas_shard",
        ],
    },
)

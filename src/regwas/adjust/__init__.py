"""Stage 4, adjust: confounders removed from embeddings (linear residualisation or iterated
nullspace projection).

Reads embeddings.parquet and the samples table; writes embeddings.adjusted.parquet and
adjust_report.json."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "confounders": [
            "METHODS",
            "DIRECTIONS",
            "covariate_list",
            "adjust_embeddings",
            "adjust_file",
        ],
        "nullspace": [
            "nullspace_projection",
            "heldout_split",
            "heldout_r2",
            "per_confounder",
            "inlp",
            "kept_basis",
        ],
    },
)

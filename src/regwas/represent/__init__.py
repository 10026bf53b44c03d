"""Stage 3, represent: embedders fit on an array store and write embeddings.parquet (PCA
now; autoencoders next)."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "pca": ["DEFAULTS", "pca_embeddings", "embed_store"],
    },
)

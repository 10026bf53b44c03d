"""Stage 3, represent: embedders fitted on an array store write embeddings.parquet (PCA now;
the autoencoders implement the same interface)."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "base": ["Embedder", "make_embedder", "embed_store"],
        "pca": ["pca_embeddings", "PCAEmbedder"],
    },
)

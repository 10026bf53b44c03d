"""Stage 3, represent: embedders fitted on an array store write embeddings.parquet (PCA, the
baseline; equal-capacity autoencoders, the same interface; DropFuse cross-modal encoders)."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "base": ["Embedder", "make_embedder", "embed_store"],
        "pca": ["pca_embeddings", "PCAEmbedder"],
        "autoencoder": ["AutoencoderEmbedder", "build_network", "load_model"],
        "dropfuse": ["DropFuse", "DropFuseEncoder", "info_nce", "retrieval_accuracy"],
    },
)

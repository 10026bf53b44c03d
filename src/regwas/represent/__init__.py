"""Stage 3, represent: embedders fitted on an array store write embeddings.parquet (PCA, the
baseline; equal-capacity autoencoders, the same interface; DropFuse cross-modal encoders)."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "autoencoder": [
            "TrainingError",
            "TrainingInterrupted",
            "build_network",
            "count_parameters",
            "input_layout",
            "split_people",
            "feature_stats",
            "lr_factor",
            "AutoencoderEmbedder",
            "load_model",
        ],
        "base": ["Embedder", "make_embedder", "embed_store"],
        "dropfuse": [
            "info_nce",
            "retrieval_accuracy",
            "dropout_fusion",
            "DropFuse",
            "DropFuseEncoder",
        ],
        "pca": ["pca_embeddings", "PCAEmbedder"],
    },
)

"""PCA, the baseline embedder: principal components of the standardised rows of a store."""

from __future__ import annotations

import logging

import numpy as np

from regwas.errors import InputError
from regwas.io.arraystore import ArrayStore
from regwas.represent.base import Embedder

log = logging.getLogger(__name__)


def pca_embeddings(
    data: np.ndarray, latent_dim: int, seed: int, standardize: bool = True, chunk: int = 1024
) -> tuple[np.ndarray, dict]:
    """Project N x (any shape) data onto its first ``latent_dim`` principal components.

    Features are centred (and scaled to unit variance when ``standardize``) with statistics
    computed in float64 chunk by chunk; randomized PCA (scikit-learn) keeps it fast.
    Returns (embeddings N x latent_dim, info with explained variance ratios).
    """
    from sklearn.decomposition import PCA

    n = data.shape[0]
    flat = data.reshape(n, -1)
    if latent_dim > min(n, flat.shape[1]):
        raise InputError(
            f"latent_dim {latent_dim} exceeds min(samples, features) = {min(n, flat.shape[1])}"
        )
    mean = np.zeros(flat.shape[1])
    sq = np.zeros(flat.shape[1])
    for start in range(0, n, chunk):
        block = np.asarray(flat[start : start + chunk], dtype=np.float64)
        if not np.isfinite(block).all():
            rows = start + np.flatnonzero(~np.isfinite(block).all(axis=1))
            raise InputError(f"array rows {rows[:5].tolist()} hold NaN or inf")
        mean += block.sum(axis=0)
        sq += (block**2).sum(axis=0)
    mean /= n
    sd = np.sqrt(np.maximum(sq / n - mean**2, 0.0))
    scale = np.where(sd > 1e-12, sd, 1.0) if standardize else np.ones_like(sd)
    x = np.empty(flat.shape, dtype=np.float32)
    for start in range(0, n, chunk):
        block = np.asarray(flat[start : start + chunk], dtype=np.float64)
        x[start : start + chunk] = (block - mean) / scale
    pca = PCA(n_components=latent_dim, svd_solver="randomized", random_state=seed)
    z = pca.fit_transform(x)
    info = {
        "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
        "n_features": int(flat.shape[1]),
        "components": pca.components_,
        "mean": mean,
        "scale": scale,
    }
    return z.astype(np.float32), info


class PCAEmbedder(Embedder):
    """Principal components of the standardised rows (the baseline of every space)."""

    method = "pca"

    def fit(self, store: ArrayStore) -> PCAEmbedder:
        self._z, self._info = pca_embeddings(
            store.data, self.latent_dim, self.seed, bool(self.cfg["standardize"])
        )
        log.info(
            "PCA %d -> %d dims, %.1f%% variance",
            self._info["n_features"],
            self.latent_dim,
            100 * sum(self._info["explained_variance_ratio"]),
        )
        return self

    def transform(self, store: ArrayStore) -> np.ndarray:
        if store.n != len(self._z):
            raise InputError(f"{store.dir}: PCA embeds the store it was fitted on")
        return self._z

    def parameters(self) -> dict[str, np.ndarray]:
        return {k: self._info[k] for k in ("components", "mean", "scale")}

    def info(self) -> dict[str, str]:
        return {"explained_variance": str(sum(self._info["explained_variance_ratio"]))}

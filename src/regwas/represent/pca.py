"""PCA, the baseline embedder: principal components of the standardised rows of a store."""

from __future__ import annotations

import logging

import numpy as np

from regwas.errors import InputError
from regwas.io.arraystore import ArrayStore
from regwas.linalg import streamed_randomized_svd
from regwas.represent.base import Embedder

log = logging.getLogger(__name__)


# the standardised float32 rows are kept in memory, instead of being read and standardised
# again for each of the randomized SVD's ~17 passes, when they take at most this many bytes
# (the demo's ECG native store: 480 MB); larger stores are streamed from the memory map
CACHE_BYTES = 2 * 1024**3


def _non_finite(rows: np.ndarray, sample_ids: np.ndarray | None, source: str) -> str:
    """The message for rows holding NaN or inf: the file and the samples (or rows) named."""
    if sample_ids is None:
        return f"{source}: rows {rows[:5].tolist()} hold NaN or inf"
    who = ", ".join(map(str, np.asarray(sample_ids)[rows[:5]]))
    more = f" (first 5 of {len(rows)} in this block)" if len(rows) > 5 else ""
    return f"{source}: the rows of samples {who}{more} hold NaN or inf"


def pca_embeddings(
    data: np.ndarray,
    latent_dim: int,
    seed: int,
    standardize: bool = True,
    chunk: int = 1024,
    sample_ids: np.ndarray | None = None,
    source: str = "array",
    cache_bytes: int = CACHE_BYTES,
) -> tuple[np.ndarray, dict]:
    """Project N x (any shape) data onto its first ``latent_dim`` principal components.

    Features are centred (and scaled to unit variance when ``standardize``) with statistics
    computed in float64 chunk by chunk; the components come from a seeded randomized SVD that
    streams the rows (regwas.linalg), so ``data`` (a memory-mapped store) is never copied
    whole; its standardised float32 rows are kept in memory when they take at most
    ``cache_bytes`` (the same values either way). The power-iteration count follows scikit-learn's PCA (7, or 4 when latent_dim is
    at least a tenth of the matrix's smaller side). Returns (embeddings N x latent_dim,
    info: explained variance ratios, components, mean, scale, n_features).
    """
    n = data.shape[0]
    flat = data.reshape(n, -1)
    n_features = flat.shape[1]
    if latent_dim > min(n, n_features):
        raise InputError(
            f"latent_dim {latent_dim} exceeds min(samples, features) = {min(n, n_features)}"
        )
    mean = np.zeros(n_features)
    sq = np.zeros(n_features)
    for start in range(0, n, chunk):
        block = np.asarray(flat[start : start + chunk], dtype=np.float64)
        if not np.isfinite(block).all():
            rows = start + np.flatnonzero(~np.isfinite(block).all(axis=1))
            raise InputError(_non_finite(rows, sample_ids, source))
        mean += block.sum(axis=0)
        sq += (block**2).sum(axis=0)
    mean /= n
    sd = np.sqrt(np.maximum(sq / n - mean**2, 0.0))
    scale = np.where(sd > 1e-12, sd, 1.0) if standardize else np.ones_like(sd)

    def streamed():
        for start in range(0, n, chunk):
            block = np.asarray(flat[start : start + chunk], dtype=np.float64)
            yield start, start + len(block), ((block - mean) / scale).astype(np.float32)

    if n * n_features * 4 <= cache_bytes:  # the same blocks, standardised once
        cached = list(streamed())

        def blocks():
            yield from cached
    else:
        blocks = streamed

    n_iter = 7 if latent_dim < 0.1 * min(n, n_features) else 4
    V, S = streamed_randomized_svd(
        blocks, (n, n_features), latent_dim, seed, n_iter, n_oversamples=10, desc="PCA"
    )
    z = np.empty((n, latent_dim), dtype=np.float32)
    total_ss = 0.0
    V32 = V.astype(np.float32)
    for a, b, Z in blocks():
        z[a:b] = Z @ V32
        total_ss += float(np.square(Z, dtype=np.float64).sum())
    info = {
        "explained_variance_ratio": (S**2 / total_ss).tolist() if total_ss > 0 else [0.0] * len(S),
        "n_features": int(n_features),
        "components": V.T,
        "mean": mean,
        "scale": scale,
    }
    return z, info


class PCAEmbedder(Embedder):
    """Principal components of the standardised (or, per modality, only centred) rows: the
    baseline of every space."""

    method = "pca"

    @property
    def standardize(self) -> bool:
        """``represent.standardize``, or its per-modality override
        (``represent.standardize_by_modality``)."""
        by = self.cfg.get("standardize_by_modality") or {}
        return bool(by.get(self.modality, self.cfg["standardize"]))

    def fit(self, store: ArrayStore) -> PCAEmbedder:
        self._z, self._info = pca_embeddings(
            store.data,
            self.latent_dim,
            self.seed,
            self.standardize,
            sample_ids=store.sample_ids,
            source=str(store.dir / "data.npy"),
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

"""Baseline representations: PCA embeddings of a registered array store.

Native and registered spaces of one modality get the same latent size, so their downstream
associations are comparable. The autoencoders of a later issue write the same file format."""

from __future__ import annotations

import logging
import os

import numpy as np

from regwas.config.schema import merge_defaults
from regwas.errors import InputError
from regwas.io.arraystore import load_array_store
from regwas.io.atomic import config_digest
from regwas.io.embeddings import write_embeddings

log = logging.getLogger(__name__)


DEFAULTS: dict = {"method": "pca", "latent_dim": 16, "standardize": True}


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
    }
    return z.astype(np.float32), info


def embed_store(
    store_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    cfg: dict | None,
    seed: int,
    modality: str = "",
    space: str = "",
) -> dict:
    """Embed one array store and write embeddings.parquet with its metadata."""
    cfg = merge_defaults(DEFAULTS, cfg, "represent")
    if cfg["method"] != "pca":
        raise InputError(f"represent.method: unknown method {cfg['method']!r}")
    data, ids = load_array_store(store_dir)
    z, info = pca_embeddings(data, cfg["latent_dim"], seed, cfg["standardize"])
    log.info(
        "%s/%s: PCA %d -> %d dims, %.1f%% variance",
        modality,
        space,
        info["n_features"],
        cfg["latent_dim"],
        100 * sum(info["explained_variance_ratio"]),
    )
    meta = {
        "modality": modality,
        "space": space,
        "method": "pca",
        "model_checksum": config_digest(info["explained_variance_ratio"]),
        "config_digest": config_digest(cfg),
        "explained_variance": str(sum(info["explained_variance_ratio"])),
    }
    write_embeddings(ids, z, out_path, meta)
    return info

"""The embedder interface: what every representation method (PCA, the autoencoders) provides.

An embedder is fitted on an array store (regwas.io.arraystore) and embeds every row of one;
:func:`embed_store` writes ``embeddings.parquet`` (regwas.io.embeddings) with the metadata the
contract names: modality, space, method, the fitted model's checksum and the config digest.
Native and registered spaces of one modality are embedded with the same section of the
config, so they get the same latent size and the same budget.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.arraystore import ArrayStore
from regwas.io.atomic import config_digest
from regwas.io.embeddings import write_embeddings

log = logging.getLogger(__name__)


class Embedder(abc.ABC):
    """Fit on an array store, then map its rows to ``latent_dim``-dimensional embeddings."""

    #: the ``represent.method`` value that selects this embedder
    method: ClassVar[str]
    #: embedders by method name (filled by subclasses)
    registry: ClassVar[dict[str, type[Embedder]]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        Embedder.registry[cls.method] = cls

    def __init__(self, cfg: dict, seed: int, modality: str = "", out_dir=None):
        self.cfg = cfg
        self.seed = int(seed)
        self.latent_dim = int(cfg["latent_dim"])
        #: the modality (selects e.g. the autoencoder's convolution dimensions)
        self.modality = modality
        #: the space's results folder, where a method may write its model and QC (None: none)
        self.out_dir = None if out_dir is None else Path(out_dir)

    @abc.abstractmethod
    def fit(self, store: ArrayStore) -> Embedder:
        """Learn the model from the store's rows (streamed or memory-mapped; never copied whole
        unless the method needs it)."""

    @abc.abstractmethod
    def transform(self, store: ArrayStore) -> np.ndarray:
        """Embeddings of the store's rows, N x latent_dim float32, in store order."""

    @abc.abstractmethod
    def parameters(self) -> dict[str, np.ndarray]:
        """The fitted model's parameters by name (what the checksum covers)."""

    def info(self) -> dict[str, str]:
        """Extra key-value metadata for embeddings.parquet (e.g. variance explained)."""
        return {}

    def checksum(self) -> str:
        """sha256 of the fitted parameters (names, shapes, dtypes and bytes), in name order."""
        h = hashlib.sha256()
        for name, value in sorted(self.parameters().items()):
            arr = np.ascontiguousarray(value)
            h.update(f"{name}:{arr.dtype.str}:{arr.shape};".encode())
            h.update(arr.tobytes())
        return h.hexdigest()


def make_embedder(cfg: dict, seed: int, modality: str = "", out_dir=None) -> Embedder:
    """The embedder that ``cfg["method"]`` (a validated represent section) names."""
    import regwas.represent.pca  # noqa: F401 (registers "pca")

    if cfg["method"] == "autoencoder":
        import regwas.represent.autoencoder  # noqa: F401 (registers "autoencoder"; needs torch)

    try:
        cls = Embedder.registry[cfg["method"]]
    except KeyError:
        known = ", ".join(sorted(Embedder.registry))
        raise InputError(f"represent.method: unknown method {cfg['method']!r} ({known})") from None
    return cls(cfg, seed, modality=modality, out_dir=out_dir)


def embed_store(
    store_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    cfg: dict | None,
    seed: int,
    modality: str = "",
    space: str = "",
) -> Embedder:
    """Fit the configured embedder on one array store and write its embeddings.parquet."""
    cfg = section("represent", cfg)
    store = ArrayStore(store_dir)
    embedder = make_embedder(cfg, seed, modality, Path(out_path).parent).fit(store)
    z = embedder.transform(store)
    if z.shape != (store.n, embedder.latent_dim):
        raise AssertionError(f"{embedder.method}: embeddings of shape {z.shape}")
    meta = {
        "modality": modality,
        "space": space,
        "method": embedder.method,
        "latent_dim": str(embedder.latent_dim),
        "model_checksum": embedder.checksum(),
        "config_digest": config_digest(cfg),
        **embedder.info(),
    }
    write_embeddings(store.sample_ids, z, out_path, meta)
    return embedder

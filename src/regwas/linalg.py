"""A streamed randomized SVD, shared by the genetic PCs and the PCA embedder.

Halko, Martinsson & Tropp (2011): a Gaussian sketch, QR-normalised power iterations and the
SVD of a small projected matrix, as scikit-learn's ``randomized_svd`` does, except that the
matrix is never materialised: ``blocks()`` yields consecutive row blocks of M (m x n), each
pass over them computes one product, and memory stays at a block plus n x (k + oversamples).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from tqdm import tqdm

RowBlocks = Callable[[], Iterable[tuple[int, int, np.ndarray]]]


def _orthonormal(A: np.ndarray) -> np.ndarray:
    return np.linalg.qr(A)[0]


def streamed_randomized_svd(
    blocks: RowBlocks,
    shape: tuple[int, int],
    k: int,
    seed: int,
    n_iter: int = 7,
    n_oversamples: int = 20,
    desc: str = "randomized SVD",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k singular vectors of Mᵀ (n x k, i.e. the right singular vectors of M) and the
    singular values, for M (m x n) given as row blocks ``(start, stop, M[start:stop])``.

    Seeded (the sketch is drawn from ``seed``); signs are fixed so that the largest entry of
    each vector is positive. Products accumulate in float64; blocks may be float32.
    """
    m, n = shape
    ell = min(k + n_oversamples, m, n)

    def mt_times(V: np.ndarray) -> np.ndarray:  # Mᵀ (n x m) @ V (m x l)
        out = np.zeros((n, V.shape[1]), dtype=np.float64)
        for a, b, Z in blocks():
            out += Z.T @ V[a:b]
        return out

    def m_times(U: np.ndarray) -> np.ndarray:  # M (m x n) @ U (n x l)
        out = np.empty((m, U.shape[1]), dtype=np.float64)
        U32 = U.astype(np.float32)
        for a, b, Z in blocks():
            out[a:b] = Z @ U32
        return out

    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((m, ell)).astype(np.float32)
    Q = _orthonormal(mt_times(omega))
    for _ in tqdm(range(n_iter), desc=desc, disable=None):
        W = _orthonormal(m_times(Q)).astype(np.float32)
        Q = _orthonormal(mt_times(W))
    Bt = m_times(Q)  # = M Q, so B = Qᵀ Mᵀ = Btᵀ
    Uh, S, _ = np.linalg.svd(Bt.T, full_matrices=False)
    U = Q @ Uh[:, :k]
    S = S[:k]
    signs = np.sign(U[np.abs(U).argmax(axis=0), np.arange(U.shape[1])])
    return U * np.where(signs == 0, 1.0, signs), S

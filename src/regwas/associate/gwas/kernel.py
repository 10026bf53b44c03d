"""The exact, vectorised latent-space MANOVA: one matrix product per block of variants.

Algebra (docs/architecture.md, "Latent GWAS"): covariates C (intercept first, rank k) are partialled out of
the latents Y (n x d) and of the genotypes. With W an orthonormal basis of the residualised
latents (the whitened residuals; W is orthogonal to C) and g_r the residualised genotype,
Pillai's trace of the 1-df additive test is

    V = ||W' g||^2 / ||g_r||^2          (= R^2 of g_r on the latents; W' g_r = W' g)

and the MANOVA F = ((n-k-d)/d) V/(1-V) on (d, n-k-d) df is exact. The 2-df genotypic test
(two dummies, het and alt-hom) gives V = trace((X_r'X_r)^-1 A'A) with A = W'X (d x 2), and the
F approximation of statsmodels' MANOVA for Pillai's trace (s = min(d, 2)):
df1 = s*max(d, q), df2 = s*(v - d + s), F = (df2/df1) V/(s-V), v = n - k - q.
In both cases p = I_x(df2/2, df1/2) with x = 1 - V/s (regularised incomplete beta), which
``log_betainc`` evaluates on the log scale so that tiny p never underflows.

Genotype sums and sums of squares come from exact integer counts; statistics are float64.
Missing calls (-9) are mean-imputed (dummies by their class frequencies), which is the
documented approximation of the exact per-variant test that would drop those samples."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from regwas.associate.gwas.pvalues import pillai_pvalues
from regwas.associate.gwas.qc import Counts

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- the basis


@dataclass
class LatentBasis:
    """Whitened latent residuals W (n x d) and covariate basis Qc (n x kc), both orthogonal to 1.

    ``k`` counts the covariate columns with the intercept (the rank of C); ``d`` the rank of the
    residualised latents.
    """

    W: np.ndarray
    Qc: np.ndarray
    n: int
    k: int
    d: int

    @property
    def stacked(self) -> np.ndarray:
        """[W | Qc], n x (d + kc): one GEMM gives both projections."""
        return np.ascontiguousarray(np.hstack([self.W, self.Qc]))


def _orth(X: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis of the column space of X (thin SVD, rank-revealing)."""
    if X.shape[1] == 0:
        return np.empty((X.shape[0], 0))
    U, sv, _ = np.linalg.svd(X, full_matrices=False)
    if sv.size == 0 or sv[0] == 0:
        return np.empty((X.shape[0], 0))
    return U[:, sv > rtol * sv[0]]


#: float32 machine epsilon: embeddings are stored as float32 (the embeddings contract), so a
#: direction of the latents below this relative size is storage rounding, not signal.
EPS_FLOAT32 = float(np.finfo(np.float32).eps)


def latent_rank(
    Yr: np.ndarray, scale: np.ndarray, sigma_max: float, rtol: float | None = None
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Rank-revealing SVD of residualised latents on a scale float32 storage cannot fool.

    Each column of ``Yr`` is divided by ``scale`` (its centred norm before the covariates were
    partialled out: the size at which float32 rounded it), so a dimension measured in small
    units is not mistaken for noise and a near-copy of another dimension, or one that the
    covariates nearly explain, is. Directions whose singular value is at most
    ``rtol`` x ``sigma_max`` (default max(n, d) x eps(float32), the matrix-rank convention for
    data held in float32; ``sigma_max``: the largest singular value of the scaled, centred
    latents before residualising, i.e. of the data as stored) are rounding, not signal.
    Returns (U of the kept directions, right singular vectors of the dropped ones, the
    smallest singular value relative to ``sigma_max``, the relative tolerance used).
    """
    n, d = Yr.shape
    ok = scale > 0
    Ys = np.zeros_like(Yr)
    Ys[:, ok] = Yr[:, ok] / scale[ok]
    if rtol is None:
        rtol = max(n, d) * EPS_FLOAT32
    U, sv, Vt = np.linalg.svd(Ys, full_matrices=False)
    keep = sv > rtol * sigma_max
    ratio = float(sv[-1] / sigma_max) if sv.size and sigma_max > 0 else 0.0
    return U[:, keep], Vt[~keep].T, ratio, rtol


def prepare_basis(
    Y: np.ndarray,
    C: np.ndarray | None,
    names: list[str] | None = None,
    rtol: float | None = None,
) -> LatentBasis:
    """Partial the covariates (with intercept) out of Y and whiten: the per-analysis set-up.

    The rank of the residualised latents is decided by ``latent_rank`` (scale-aware, with a
    float32 tolerance); when it is below the number of dimensions, a warning names the
    (near-)dependent dimensions (``names``, default z000, z001, ...) and the span is tested.
    """
    Y = np.asarray(Y, dtype=np.float64)
    n = Y.shape[0]
    names = list(names) if names is not None else [f"z{i:03d}" for i in range(Y.shape[1])]
    C = np.ones((n, 1)) if C is None else np.asarray(C, dtype=np.float64)
    Cc = C - C.mean(axis=0)  # the intercept column becomes 0 and drops out of the basis
    scale = np.linalg.norm(Cc, axis=0)
    Cc = Cc[:, scale > 0] / scale[scale > 0]
    Qc = _orth(Cc)
    Yr = Y - Y.mean(axis=0)
    y_scale = np.linalg.norm(Yr, axis=0)
    stored = Yr[:, y_scale > 0] / y_scale[y_scale > 0]
    sigma_max = float(np.linalg.norm(stored, 2)) if stored.size else 0.0
    for _ in range(2):  # twice: re-orthogonalisation keeps W orthogonal to C to rounding
        Yr = Yr - Qc @ (Qc.T @ Yr)
    W, null, ratio, tol = latent_rank(Yr, y_scale, sigma_max, rtol)
    for _ in range(2):
        W = W - W.mean(axis=0)
        W = W - Qc @ (Qc.T @ W)
    W, _ = np.linalg.qr(W)
    if W.shape[1] < Y.shape[1]:
        weight = (null**2).sum(axis=1)
        involved = [names[j] for j in np.flatnonzero(weight >= 0.01)] or names[:1]
        shown = ", ".join(involved[:12]) + (
            f" (+{len(involved) - 12} more)" if len(involved) > 12 else ""
        )
        log.warning(
            "latent dimensions %s are (near-)linearly dependent after partialling out the "
            "covariates (smallest singular value %.2g of the stored scale <= tolerance %.2g "
            "for float32 storage): rank %d < %d dimensions, testing the %d-dimensional span",
            shown,
            ratio,
            tol,
            W.shape[1],
            Y.shape[1],
            W.shape[1],
        )
    return LatentBasis(
        W=np.ascontiguousarray(W), Qc=np.ascontiguousarray(Qc), n=n, k=1 + Qc.shape[1], d=W.shape[1]
    )


# ----------------------------------------------------------------------------- GEMM backends


class NumpyBackend:
    """float64 GEMM of an int8 genotype block with the basis (missing calls = imputed values)."""

    name = "numpy"

    def __init__(self, basis_matrix: np.ndarray):
        self.B = np.ascontiguousarray(basis_matrix, dtype=np.float64)
        self._buffer = np.empty((0, self.B.shape[0]))

    def project(self, G: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """(G with -9 replaced by ``fill`` per variant) @ B, in float64 (variants x columns).

        The float64 copy of the block goes into a buffer kept between blocks: allocating a
        fresh one per block (hundreds of MB) cost more in page faults than the conversion.
        """
        if self._buffer.shape[0] < G.shape[0]:
            self._buffer = np.empty((G.shape[0], self.B.shape[0]))
        Gf = self._buffer[: G.shape[0]]
        np.copyto(Gf, G, casting="unsafe")
        rows = np.flatnonzero((G < 0).any(axis=1)) if fill is not None else np.empty(0, int)
        if rows.size:
            Gf[rows] = np.where(G[rows] < 0, fill[rows, None], Gf[rows])
        return Gf @ self.B


class Float32Backend(NumpyBackend):
    """float32 GEMM for screening (about twice the float64 speed); results come back as float64.

    Only for ``precision: mixed``: every variant whose screened -log10 p reaches the refine
    threshold is tested again exactly with the float64 backend (see ``screened_test``).
    """

    name = "numpy-float32"

    def __init__(self, basis_matrix: np.ndarray):
        self.B = np.ascontiguousarray(basis_matrix, dtype=np.float32)
        self._buffer = np.empty((0, self.B.shape[0]), dtype=np.float32)

    def project(self, G: np.ndarray, fill: np.ndarray) -> np.ndarray:
        if self._buffer.shape[0] < G.shape[0]:
            self._buffer = np.empty((G.shape[0], self.B.shape[0]), dtype=np.float32)
        Gf = self._buffer[: G.shape[0]]
        np.copyto(Gf, G, casting="unsafe")
        rows = np.flatnonzero((G < 0).any(axis=1)) if fill is not None else np.empty(0, int)
        if rows.size:
            Gf[rows] = np.where(G[rows] < 0, fill[rows, None], Gf[rows])
        return (Gf @ self.B).astype(np.float64)


def screened_test(
    test, G: np.ndarray, counts: Counts, basis: LatentBasis, fast, exact, refine_above: float
) -> dict:
    """Run ``test`` with the ``fast`` backend, then again with ``exact`` on every variant whose
    screened -log10 p is at least ``refine_above`` or that the screen found untestable.

    Variants below the threshold keep the screened statistics (float32 rounding of the GEMM);
    those that can matter, and all significant ones, are exact. ``refined`` flags them.
    """
    res = test(G, counts, basis, fast)
    redo = np.flatnonzero((res["neg_log10_p"] >= refine_above) | ~res["testable"])
    res["refined"] = np.zeros(len(res["pillai"]), dtype=bool)
    if redo.size:
        again = test(G[redo], counts.subset(redo), basis, exact)
        for key, value in again.items():
            res[key][redo] = value
        res["refined"][redo] = True
    return res


class TorchBackend:
    """The same float64 GEMM with torch (CUDA when available): identical algebra and rounding order
    up to BLAS differences, so log10 p agrees with numpy to ~1e-12."""

    def __init__(self, basis_matrix: np.ndarray, device: str | None = None):
        import torch

        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.name = f"torch:{self.device.type}"
        self.B = torch.from_numpy(np.ascontiguousarray(basis_matrix, dtype=np.float64)).to(
            self.device
        )

    def project(self, G: np.ndarray, fill: np.ndarray) -> np.ndarray:
        torch = self.torch
        g = torch.from_numpy(np.ascontiguousarray(G)).to(self.device)
        gf = g.to(torch.float64)
        missing = g < 0
        if bool(missing.any()):
            f = torch.from_numpy(np.asarray(fill, dtype=np.float64)).to(self.device)
            gf = torch.where(missing, f[:, None].expand_as(gf), gf)
        return (gf @ self.B).cpu().numpy()


def make_backend(name: str, basis_matrix: np.ndarray):
    """numpy | torch | auto (torch on CUDA when a GPU is present, else numpy).

    Logs the backend and device it chose (for auto, also why it fell back to numpy), so the
    job log says where the GWAS ran.
    """
    if name == "numpy":
        backend = NumpyBackend(basis_matrix)
    elif name == "torch":
        backend = TorchBackend(basis_matrix)
    elif name == "auto":
        try:
            import torch
        except ImportError:
            torch, why = None, "torch is not installed"
        else:
            why = "no CUDA device"
        if torch is not None and torch.cuda.is_available():
            backend = TorchBackend(basis_matrix, "cuda")
        else:
            log.info("gwas.backend auto: %s, using numpy", why)
            backend = NumpyBackend(basis_matrix)
    else:
        raise ValueError(f"unknown GWAS backend {name!r} (numpy, torch or auto)")
    device = getattr(backend, "device", None)
    if device is not None and device.type == "cuda":
        log.info("GWAS backend %s (%s)", backend.name, backend.torch.cuda.get_device_name(device))
    else:
        log.info("GWAS backend %s", backend.name)
    return backend


# ----------------------------------------------------------------------------- the tests


def _centered_ss(c0, c1, c2, v0, v1, v2, mean):
    """Sum of squares about ``mean`` over called samples of a variable taking v0/v1/v2."""
    return c0 * (v0 - mean) ** 2 + c1 * (v1 - mean) ** 2 + c2 * (v2 - mean) ** 2


def _result(pillai: np.ndarray, ok: np.ndarray, s: int, df1: float, df2: float) -> dict:
    """Per-variant arrays of a MANOVA test from Pillai's trace (shared by both models)."""
    f_stat, p, nlp = pillai_pvalues(pillai, s, df1, df2)
    m = len(pillai)
    return {
        "pillai": pillai,
        "f_stat": f_stat,
        "df1": np.full(m, df1),
        "df2": np.full(m, df2),
        "p_value": p,
        "neg_log10_p": nlp,
        "testable": ok & np.isfinite(pillai),
    }


def additive_test(G: np.ndarray, counts: Counts, basis: LatentBasis, backend) -> dict:
    """1-df additive MANOVA of a block of int8 genotypes, or of float64 ALT dosages (missing
    < 0) when ``counts`` carries their sums; returns per-variant arrays."""
    called = counts.allele_called.astype(np.float64)
    mean = counts.allele_sum / called
    proj = backend.project(G, mean)
    d = basis.d
    wg = proj[:, :d]
    qg = proj[:, d:]
    if counts.dosage is None:
        ss_total = _centered_ss(counts.c0, counts.c1, counts.c2, 0.0, 1.0, 2.0, mean)
    else:
        ss_total = counts.dosage.centered_ss
    ss_res = ss_total - np.einsum("ij,ij->i", qg, qg)
    explained = np.einsum("ij,ij->i", wg, wg)
    ok = ss_res > 1e-9 * np.maximum(ss_total, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        pillai = np.where(ok, explained / ss_res, np.nan)
    pillai = np.clip(pillai, 0.0, 1.0 - 1e-16)
    df1 = float(d)
    df2 = float(basis.n - basis.k - d)
    return _result(pillai, ok, 1, df1, df2)


def genotypic_test(G: np.ndarray, counts: Counts, basis: LatentBasis, backend) -> dict:
    """2-df genotypic MANOVA (dummies het, alt-hom; ref-hom baseline), statsmodels' Pillai F.

    Undefined (testable False) when a genotype class is empty among the called samples.
    """
    called = counts.called.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # no hard call: untestable below
        f1 = counts.c1 / called
        f2 = counts.c2 / called
    mean = f1 + 2 * f2
    d = basis.d
    proj_g = backend.project(G, mean)
    hom = np.where(G < 0, G, (G == 2).astype(np.int8))
    proj_2 = backend.project(hom, f2)
    proj_1 = proj_g - 2 * proj_2  # x1 = g - 2 x2, imputed values consistent (mean = f1 + 2 f2)
    a1, q1 = proj_1[:, :d], proj_1[:, d:]
    a2, q2 = proj_2[:, :d], proj_2[:, d:]
    # residual cross-products of the dummies: exact centred sums minus the covariate part
    m11 = called * f1 * (1 - f1) - np.einsum("ij,ij->i", q1, q1)
    m22 = called * f2 * (1 - f2) - np.einsum("ij,ij->i", q2, q2)
    m12 = -called * f1 * f2 - np.einsum("ij,ij->i", q1, q2)
    det = m11 * m22 - m12**2
    e11 = np.einsum("ij,ij->i", a1, a1)
    e22 = np.einsum("ij,ij->i", a2, a2)
    e12 = np.einsum("ij,ij->i", a1, a2)
    scale = np.maximum(called * f1 * (1 - f1), 1e-300) * np.maximum(called * f2 * (1 - f2), 1e-300)
    ok = (counts.c0 > 0) & (counts.c1 > 0) & (counts.c2 > 0) & (det > 1e-9 * scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        pillai = np.where(ok, (m22 * e11 - 2 * m12 * e12 + m11 * e22) / det, np.nan)
    q = 2
    s = min(d, q)
    pillai = np.clip(pillai, 0.0, s - 1e-15)
    v = basis.n - basis.k - q
    df1 = float(s * max(d, q))
    df2 = float(s * (v - d + s))
    return _result(pillai, ok, s, df1, df2)

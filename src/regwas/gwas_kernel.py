"""The exact, vectorised latent-space MANOVA: one matrix product per block of variants.

Algebra (FACTS.md "Latent GWAS"): covariates C (intercept first, rank k) are partialled out of
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
documented approximation of the exact per-variant test that would drop those samples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import special

log = logging.getLogger(__name__)

LN10 = np.log(10.0)


# ----------------------------------------------------------------------------- p-values


def _log_betainc_cf(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log I_x(a, b) by the continued fraction (modified Lentz), valid for x < (a+1)/(a+b+2)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    dd = 1.0 - qab * x / qap
    dd = np.where(np.abs(dd) < tiny, tiny, dd)
    dd = 1.0 / dd
    h = dd.copy()
    done = np.zeros(x.shape, dtype=bool)
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        dd = 1.0 + aa * dd
        dd = np.where(np.abs(dd) < tiny, tiny, dd)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        dd = 1.0 / dd
        h = np.where(done, h, h * dd * c)
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        dd = 1.0 + aa * dd
        dd = np.where(np.abs(dd) < tiny, tiny, dd)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        dd = 1.0 / dd
        delta = dd * c
        h = np.where(done, h, h * delta)
        done |= np.abs(delta - 1.0) < 1e-16
        if done.all():
            break
    log_front = a * np.log(x) + b * np.log1p(-x) - special.betaln(a, b) - np.log(a)
    return log_front + np.log(h)


def log_betainc(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Natural log of the regularised incomplete beta I_x(a, b), finite even below 1e-308.

    scipy.special.betainc where its value is comfortably representable; the continued
    fraction with a log-space prefactor where it would underflow (the far tail of a GWAS).
    """
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, x)))
    a, b, x = a.copy(), b.copy(), x.copy()
    out = np.full(x.shape, np.nan)
    p = special.betainc(a, b, np.clip(x, 0.0, 1.0))
    ok = p > 1e-280
    with np.errstate(divide="ignore"):
        out[ok] = np.log(p[ok])
    out[x <= 0] = -np.inf
    tail = ~ok & (x > 0) & np.isfinite(x)
    if tail.any():
        # in the far tail x < (a+1)/(a+b+2) always holds (the mode of the beta lies above x)
        out[tail] = _log_betainc_cf(a[tail], b[tail], x[tail])
    return out


def pillai_pvalues(
    pillai: np.ndarray, s: int, df1: np.ndarray | float, df2: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, p, -log10 p) of Pillai's trace with statsmodels' F approximation (exact for s=1)."""
    pillai = np.asarray(pillai, dtype=np.float64)
    df1 = np.broadcast_to(np.asarray(df1, dtype=np.float64), pillai.shape)
    df2 = np.broadcast_to(np.asarray(df2, dtype=np.float64), pillai.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_stat = df2 / df1 * pillai / (s - pillai)
        x = np.clip(1.0 - pillai / s, 0.0, 1.0)
    logp = log_betainc(df2 / 2.0, df1 / 2.0, x)
    logp = np.minimum(logp, 0.0)
    return f_stat, np.exp(logp), -logp / LN10


CHI2_1DF_MEDIAN = 0.454936423119572  # scipy.stats.chi2.ppf(0.5, 1)


def lambda_gc(neg_log10_p) -> float:
    """Genomic inflation: median 1-df chi-square quantile of the p-values / 0.4549.

    Quantiles come from log p (chi2_1 isf(p) = ndtri(p/2)^2 evaluated with ndtri_exp), so
    p-values below 1e-308 are handled; p-values of any df are mapped to 1-df quantiles.
    Used by the GWAS merge, the plots and the comparison alike.
    """
    x = np.asarray(neg_log10_p, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    log_half_p = -x * LN10 - np.log(2.0)
    chi2 = special.ndtri_exp(np.minimum(log_half_p, np.log(0.5))) ** 2
    return float(np.median(chi2) / CHI2_1DF_MEDIAN)


# ----------------------------------------------------------------------------- the basis


@dataclass
class LatentBasis:
    """Whitened latent residuals W (n x d) and covariate basis Qc (n x kc), both orthogonal to 1.

    ``k`` counts the covariate columns with the intercept (the rank of C); ``d`` the rank of the
    residualised latents. ``Y`` keeps the (adjusted) latents for lead-variant directions.
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


def prepare_basis(Y: np.ndarray, C: np.ndarray | None) -> LatentBasis:
    """Partial the covariates (with intercept) out of Y and whiten: the per-analysis set-up."""
    Y = np.asarray(Y, dtype=np.float64)
    n = Y.shape[0]
    C = np.ones((n, 1)) if C is None else np.asarray(C, dtype=np.float64)
    Cc = C - C.mean(axis=0)  # the intercept column becomes 0 and drops out of the basis
    scale = np.linalg.norm(Cc, axis=0)
    Cc = Cc[:, scale > 0] / scale[scale > 0]
    Qc = _orth(Cc)
    Yr = Y - Y.mean(axis=0)
    for _ in range(2):  # twice: re-orthogonalisation keeps W orthogonal to C to rounding
        Yr = Yr - Qc @ (Qc.T @ Yr)
    W = _orth(Yr)
    for _ in range(2):
        W = W - W.mean(axis=0)
        W = W - Qc @ (Qc.T @ W)
    W, _ = np.linalg.qr(W)
    if W.shape[1] < Y.shape[1]:
        log.warning(
            "residualised latents have rank %d < %d dimensions: testing the %d-dimensional span",
            W.shape[1],
            Y.shape[1],
            W.shape[1],
        )
    return LatentBasis(
        W=np.ascontiguousarray(W), Qc=np.ascontiguousarray(Qc), n=n, k=1 + Qc.shape[1], d=W.shape[1]
    )


# ----------------------------------------------------------------------------- counts and QC


@dataclass
class Counts:
    """Exact per-variant genotype counts of a block (int64)."""

    c0: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    miss: np.ndarray

    @property
    def called(self) -> np.ndarray:
        return self.c0 + self.c1 + self.c2

    @property
    def alt_count(self) -> np.ndarray:
        return self.c1 + 2 * self.c2

    def subset(self, idx: np.ndarray) -> Counts:
        return Counts(self.c0[idx], self.c1[idx], self.c2[idx], self.miss[idx])


def genotype_counts(G: np.ndarray) -> Counts:
    """Counts of 0/1/2/missing per variant of an int8 block (variants x samples)."""
    c1 = np.count_nonzero(G == 1, axis=1).astype(np.int64)
    c2 = np.count_nonzero(G == 2, axis=1).astype(np.int64)
    miss = np.count_nonzero(G < 0, axis=1).astype(np.int64)
    c0 = G.shape[1] - c1 - c2 - miss
    return Counts(c0, c1, c2, miss)


def hwe_exact_p(het: np.ndarray, hom1: np.ndarray, hom2: np.ndarray) -> np.ndarray:
    """Hardy-Weinberg exact test p-values (Wigginton, Cutler & Abecasis 2005), vectorised.

    P(het = h | N, n_minor) = N! 2^h n_rare! n_common! / (hom_r! h! hom_c! (2N)!); the p-value
    sums the probabilities not above the observed one. The het grid is limited to +-38 sd of
    the mode, beyond which probabilities are below ~1e-300 of the mode (no effect on p).
    """
    het, hom1, hom2 = (np.asarray(v, dtype=np.int64) for v in (het, hom1, hom2))
    out = np.ones(het.shape, dtype=np.float64)
    if het.size == 0:
        return out
    n = het + hom1 + hom2
    rare_hom = np.minimum(hom1, hom2)
    n_rare = 2 * rare_hom + het
    n_common = 2 * n - n_rare
    valid = (n > 0) & (n_rare > 0)
    # mode and spread of the het count under HWE
    with np.errstate(invalid="ignore", divide="ignore"):
        mode = n_rare * n_common / np.maximum(2 * n - 1, 1)
        q = n_rare / np.maximum(2 * n, 1)
        sd = np.sqrt(np.maximum(2 * n * q * (1 - q), 1.0))
    half = np.ceil(19 * sd + 4).astype(np.int64)  # grid step 2 -> +-38 sd
    width = int(2 * half.max() + 1)
    parity = n_rare % 2
    start = np.maximum(np.floor(mode).astype(np.int64) - 2 * half, 0)
    start = start + ((start - parity) % 2)
    steps = np.arange(width, dtype=np.int64)
    h = start[:, None] + 2 * steps[None, :]
    inside = (h <= n_rare[:, None]) & valid[:, None]
    h = np.where(inside, h, parity[:, None])
    hr = (n_rare[:, None] - h) // 2
    hc = n[:, None] - h - hr
    inside &= hc >= 0
    h = np.where(inside, h, parity[:, None])
    hr = np.where(inside, hr, 0)
    hc = np.where(inside, hc, 0)
    gl = special.gammaln
    logp = (
        gl(n + 1.0)[:, None]
        + h * np.log(2.0)
        + (gl(n_rare + 1.0) + gl(n_common + 1.0) - gl(2 * n + 1.0))[:, None]
        - gl(hr + 1.0)
        - gl(h + 1.0)
        - gl(hc + 1.0)
    )
    logp = np.where(inside, logp, -np.inf)
    obs = (
        gl(n + 1.0)
        + het * np.log(2.0)
        + gl(n_rare + 1.0)
        + gl(n_common + 1.0)
        - gl(2 * n + 1.0)
        - gl(rare_hom + 1.0)
        - gl(het + 1.0)
        - gl(n - het - rare_hom + 1.0)
    )
    top = np.max(logp, axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    prob = np.exp(logp - top[:, None])
    total = prob.sum(axis=1)
    # ties within a relative 1e-7 count as "not above" (as plink)
    thr = np.exp(obs - top) * (1 + 1e-7)
    tail = np.where(prob <= thr[:, None], prob, 0.0).sum(axis=1)
    res = np.minimum(tail / total, 1.0)
    out[valid] = res[valid]
    return out


def hwe_pass(counts: Counts, threshold: float) -> np.ndarray:
    """True where the HWE exact p >= threshold (p = 1 for threshold <= 0).

    The p-value is at least the probability of the observed het count itself, so variants whose
    observed configuration has probability >= threshold pass without the full sum (cheap screen);
    the exact test is computed for the rest only.
    """
    out = np.ones(counts.c0.shape, dtype=bool)
    if threshold <= 0 or out.size == 0:
        return out
    het, hom1, hom2 = counts.c1, counts.c0, counts.c2
    n = (het + hom1 + hom2).astype(np.float64)
    rare_hom = np.minimum(hom1, hom2)
    n_rare = 2 * rare_hom + het
    gl = special.gammaln
    log_obs = (
        gl(n + 1)
        + het * np.log(2.0)
        + gl(n_rare + 1.0)
        + gl(2 * n - n_rare + 1.0)
        - gl(2 * n + 1.0)
        - gl(rare_hom + 1.0)
        - gl(het + 1.0)
        - gl(n - het - rare_hom + 1.0)
    )
    check = np.flatnonzero(log_obs < np.log(threshold))
    if check.size:
        out[check] = hwe_exact_p(het[check], hom1[check], hom2[check]) >= threshold
    return out


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
    """numpy | torch | auto (torch on CUDA when a GPU is present, else numpy)."""
    if name == "numpy":
        return NumpyBackend(basis_matrix)
    if name == "torch":
        return TorchBackend(basis_matrix)
    if name == "auto":
        try:
            import torch

            if torch.cuda.is_available():
                return TorchBackend(basis_matrix, "cuda")
        except ImportError:
            pass
        return NumpyBackend(basis_matrix)
    raise ValueError(f"unknown GWAS backend {name!r} (numpy, torch or auto)")


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
    """1-df additive MANOVA of a block of int8 genotypes; returns per-variant arrays."""
    called = counts.called.astype(np.float64)
    mean = counts.alt_count / called
    proj = backend.project(G, mean)
    d = basis.d
    wg = proj[:, :d]
    qg = proj[:, d:]
    ss_total = _centered_ss(counts.c0, counts.c1, counts.c2, 0.0, 1.0, 2.0, mean)
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

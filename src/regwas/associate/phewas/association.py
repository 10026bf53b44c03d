"""PheWAS of an embedding on phecodes with a held-out centroid direction (config ``phewas``).

For each phecode with at least ``min_cases`` cases (and as many controls) among the analysed
people (see regwas.phecodes for cases, controls, exclusions and sex-specific phecodes):

1. The people are ordered by sample_id and split into halves A and B, stratified by case
   status, with a seed derived from (seed, phecode) - independent of the order of phecodes.
2. On A: the centroid direction w = mean(z | case) - mean(z | control).
3. On B: the projection s = z·w, standardised on B; a logistic model
   case ~ 1 + s + covariates (statsmodels Logit; the config's one covariate set, text columns
   one-hot, columns constant within B dropped) gives beta (log odds per SD of s), se, p.
4. Out-of-sample discrimination on B: ``auc_projection`` = roc_auc_score(case, s) (s is fitted
   on A, so this is held out and keeps the sign learnt on A: < 0.5 means the direction does
   not transfer); ``auc_covariates`` and ``auc_full`` are ROC AUCs of the out-of-fold predicted
   probabilities of a logistic regression (statsmodels Logit per fold) on covariates only and
   on covariates + s, from a seeded stratified k-fold (``auc_folds``) inside B. None of the
   AUCs is in-sample.

Bonferroni: ``significant`` = p_value < alpha / m with m the number of phecodes tested
(those meeting the case counts, including fits that failed). A fit that fails (perfect
separation, no convergence, singular design) gives a NaN row with a ``note`` and a warning;
the ``note`` also says how many folds of each held-out AUC fell back to the L2-penalised model.
``n_excluded`` counts everyone neither case nor control and ``excluded_by`` gives the reasons
(family, code_count, sex, missing_covariates: phecodes.EXCLUSION_REASONS)."""

from __future__ import annotations

import logging
import warnings
import zlib
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning
from tqdm.auto import tqdm

from regwas.associate.phewas.phecodes import (
    EXCLUSION_REASONS,
    case_status,
    map_icd10,
    phecode_info,
    sex_labels,
)
from regwas.config.schema import defaults, section
from regwas.covariates import design_matrix
from regwas.errors import InputError
from regwas.io.phecode_map import load_phecode_map
from regwas.io.tables import align_samples

log = logging.getLogger(__name__)


COLUMNS = [
    "phecode",
    "description",
    "category",
    "sex",
    "n_cases",
    "n_controls",
    "n_excluded",
    "excluded_by",
    "n_cases_test",
    "n_controls_test",
    "beta",
    "se",
    "odds_ratio",
    "p_value",
    "p_bonferroni",
    "significant",
    "auc_projection",
    "auc_covariates",
    "auc_full",
    "delta_auc",
    "note",
]


def phecode_seed(seed: int, phecode: str) -> int:
    """A per-phecode seed from the run seed and the phecode's name (order independent)."""
    return int(
        np.random.SeedSequence([int(seed), zlib.crc32(phecode.encode())]).generate_state(1)[0]
    )


def split_halves(y: np.ndarray, seed: int, phecode: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (A, B) of a seeded split of 0..len(y)-1 into halves stratified by y."""
    idx = np.arange(len(y))
    a, b = train_test_split(
        idx, test_size=0.5, stratify=y, random_state=phecode_seed(seed, phecode) % (2**32 - 1)
    )
    return np.sort(a), np.sort(b)


def centroid_projection(z: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """s on half B: z_B·w with w = mean(z_A | y=1) - mean(z_A | y=0), standardised on B."""
    za, ya = z[a], y[a]
    w = za[ya == 1].mean(axis=0) - za[ya == 0].mean(axis=0)
    s = z[b] @ w
    sd = s.std()
    return (s - s.mean()) / sd if sd > 0 else s - s.mean()


def _logit(y: np.ndarray, X: np.ndarray, max_iter: int):
    """statsmodels Logit fit; raises RuntimeError with a short reason when it is unreliable."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            res = sm.Logit(y, X).fit(disp=0, maxiter=max_iter)
        except PerfectSeparationWarning as err:
            raise RuntimeError("perfect separation") from err
        except ConvergenceWarning as err:
            raise RuntimeError("did not converge") from err
        except np.linalg.LinAlgError as err:
            raise RuntimeError(f"singular design ({err})") from err
    if np.all(np.abs(res.predict() - y) < 1e-6):
        raise RuntimeError("perfect separation")
    if not res.mle_retvals.get("converged", True):
        raise RuntimeError("did not converge")
    if not np.all(np.isfinite(res.bse)):
        raise RuntimeError("non-finite standard errors (separation or collinearity)")
    return res


def _oof_auc(
    X: np.ndarray, y: np.ndarray, folds: int, seed: int, max_iter: int
) -> tuple[float, int]:
    """ROC AUC of out-of-fold predicted probabilities of a logistic regression on 1 + X, and
    the number of folds that fell back to a penalised model.

    Each fold is fitted by maximum likelihood (statsmodels Logit, Newton); a fold where that
    fails (separation) falls back to an L2-penalised scikit-learn fit on standardised X.
    """
    if X.shape[1] == 0:
        return 0.5, 0
    penalised = 0
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % (2**32 - 1))
    design = np.column_stack([np.ones(len(X)), X])
    prob = np.empty(len(y))
    for tr, te in cv.split(X, y):
        keep = np.ptp(X[tr], axis=0) > 0
        cols = np.concatenate([[True], keep])
        try:
            res = _logit(y[tr], design[tr][:, cols], max_iter)
            prob[te] = res.predict(design[te][:, cols])
        except RuntimeError:
            penalised += 1
            model = make_pipeline(
                StandardScaler(), LogisticRegression(solver="newton-cholesky", max_iter=max_iter)
            )
            prob[te] = model.fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
    return float(roc_auc_score(y, prob)), penalised


def _nonconstant(X: np.ndarray) -> np.ndarray:
    """Mask of the columns of X that vary (the intercept column 0 is always kept)."""
    keep = np.ptp(X, axis=0) > 0
    keep[0] = True
    return keep


def assoc_phecode(
    z: np.ndarray, y: np.ndarray, X: np.ndarray, phecode: str, seed: int, c: dict[str, Any]
) -> dict[str, Any]:
    """Held-out centroid test of one phecode; rows are the analysed people (y in {0,1}).

    X is the covariate design (intercept first). Returns the statistics (NaN + note on failure).
    """
    a, b = split_halves(y, seed, phecode)
    yb = y[b]
    out: dict[str, Any] = {
        "n_cases_test": int(yb.sum()),
        "n_controls_test": int(len(yb) - yb.sum()),
    }
    s = centroid_projection(z, y, a, b)
    Xb = X[b][:, _nonconstant(X[b])]
    design = np.column_stack([Xb[:, :1], s, Xb[:, 1:]])
    try:
        res = _logit(yb, design, int(c["max_iter"]))
        out.update(
            beta=float(res.params[1]),
            se=float(res.bse[1]),
            p_value=float(res.pvalues[1]),
            note="ok",
        )
    except RuntimeError as err:
        log.warning("phewas: %s: logistic fit failed: %s; reporting NaN", phecode, err)
        out.update(beta=np.nan, se=np.nan, p_value=np.nan, note=str(err))
    out["auc_projection"] = float(roc_auc_score(yb, s))
    if c["auc"]:
        pseed = phecode_seed(seed + 1, phecode)
        k = int(min(int(c["auc_folds"]), yb.sum(), len(yb) - yb.sum()))
        if k >= 2:
            out["auc_covariates"], pen_cov = _oof_auc(Xb[:, 1:], yb, k, pseed, int(c["max_iter"]))
            out["auc_full"], pen_full = _oof_auc(
                np.column_stack([s, Xb[:, 1:]]), yb, k, pseed, int(c["max_iter"])
            )
            fell = [
                f"{n} of {k} {what} folds"
                for n, what in ((pen_cov, "auc_covariates"), (pen_full, "auc_full"))
                if n
            ]
            if fell:
                out["note"] += (
                    f"; {' and '.join(fell)} fell back to an L2-penalised logistic fit "
                    "(maximum likelihood failed)"
                )
    return out


def _excluded_by(why: np.ndarray) -> str:
    """'family 12, sex 980, ...': people left out of a phecode's test by reason."""
    counts = np.bincount(why.astype(np.int64), minlength=len(EXCLUSION_REASONS) + 1)
    return ", ".join(
        f"{name} {counts[code]}" for code, name in EXCLUSION_REASONS.items() if counts[code]
    )


def phewas(
    ids: np.ndarray,
    z: np.ndarray,
    samples: pd.DataFrame,
    diagnoses: pd.DataFrame,
    cfg: dict | None,
    seed: int = 0,
    covariates: list[str] | None = None,
) -> pd.DataFrame:
    """PheWAS of the embedding over every phecode with enough cases; one row per phecode tested.

    ``covariates``: the model's covariate columns, default the config's one covariate set
    (``covariates``: the same set adjust removed from the embeddings)."""
    c = section("phewas", cfg)
    cols = [str(x) for x in (defaults("covariates") if covariates is None else covariates)]
    ids = np.asarray(ids).astype(str)
    order = np.argsort(ids, kind="stable")
    ids, z = ids[order], np.asarray(z, dtype=np.float64)[order]
    table = align_samples(ids, samples)
    if c["sex_column"] not in table.columns:
        raise InputError(f"samples: no sex column '{c['sex_column']}' (phewas.sex_column)")
    sex = sex_labels(table[c["sex_column"]], c["sex_column"])
    X, xnames, complete = design_matrix(table, cols, source="covariates", allow_missing=True)
    if not complete.all():
        log.warning(
            "phewas: %d samples with missing covariates are left out", int((~complete).sum())
        )
    pmap = load_phecode_map(c["map_path"])
    info = phecode_info(pmap)
    person = map_icd10(diagnoses, pmap)
    reasons: dict[str, np.ndarray] = {}
    status = case_status(
        ids,
        sex,
        person,
        info,
        exclusion=c["exclusion"],
        min_code_count=int(c["min_code_count"]),
        reasons=reasons,
    )
    if c["phecodes"]:
        wanted = [str(p) for p in c["phecodes"]]
        unknown = [p for p in wanted if p not in info.index]
        if unknown:
            raise InputError(f"phewas.phecodes: not in the phecode map: {unknown[:5]}")
        status = {p: status.get(p, np.zeros(len(ids))) for p in wanted}
        reasons = {p: reasons.get(p, np.zeros(len(ids), np.int8)) for p in wanted}
    min_cases = int(c["min_cases"])
    todo = []
    for p, st in status.items():
        st = np.where(complete, st, np.nan)
        n_case, n_ctrl = int(np.nansum(st == 1)), int(np.sum(st == 0))
        if n_case >= min_cases and n_ctrl >= min_cases:
            why = np.where(complete, reasons[p], 4)
            todo.append((p, st, n_case, n_ctrl, why))
    log.info(
        "phewas: %d of %d phecodes present have >= %d cases and controls; testing them",
        len(todo),
        len(status),
        min_cases,
    )
    rows = []
    for p, st, n_case, n_ctrl, why in tqdm(todo, desc="phewas", disable=None):
        keep = ~np.isnan(st)
        stats_ = assoc_phecode(z[keep], st[keep].astype(int), X[keep], p, seed, c)
        rows.append(
            {
                "phecode": p,
                "description": info.at[p, "description"],
                "category": info.at[p, "category"],
                "sex": info.at[p, "sex"],
                "n_cases": n_case,
                "n_controls": n_ctrl,
                "n_excluded": int(len(st) - keep.sum()),
                "excluded_by": _excluded_by(why),
                **stats_,
            }
        )
    df = pd.DataFrame(rows, columns=COLUMNS)
    m = len(df)
    df["odds_ratio"] = np.exp(df["beta"])
    df["p_bonferroni"] = np.minimum(df["p_value"] * m, 1.0)
    df["significant"] = (df["p_value"] < float(c["alpha"]) / max(m, 1)).astype(bool)
    df["delta_auc"] = df["auc_full"] - df["auc_covariates"]
    log.info(
        "phewas: %d phecodes tested, %d significant (Bonferroni alpha %.3g / %d)",
        m,
        int(df["significant"].sum()),
        float(c["alpha"]),
        m,
    )
    return df.sort_values(["p_value", "phecode"], na_position="last").reset_index(drop=True)

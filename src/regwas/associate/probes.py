"""Linear probes: how much of each phenotype a linear read-out of the embedding recovers.

Seeded k-fold cross-validation (config section ``probes``):

- continuous phenotypes: standardisation + RidgeCV (penalty chosen inside the training fold by
  efficient leave-one-out) in one scikit-learn Pipeline, so nothing is fitted on the test fold;
  metric R² (``r2_score``) per test fold. Folds: ``KFold(shuffle=True, random_state=seed)``.
- binary (0/1) phenotypes: standardisation + logistic regression; metric ROC AUC from the
  predicted probabilities of the test fold, ``roc_auc_score(y_true, y_prob)``. Folds:
  ``StratifiedKFold(shuffle=True, random_state=seed)``.

Rows are put in sample_id order before splitting, so the folds depend only on the seed, the set
of people with the phenotype and (binary) their labels: two embeddings of the same people
(native and registered) get the same folds, which makes the paired comparison valid.

Output (one row per phenotype): phenotype, kind, metric, fold_1..fold_k (one column per fold),
mean, sd (ddof=1), ci_low, ci_high (t-interval over the k fold values: mean ± t(k-1) sd/√k),
ci_low_nb, ci_high_nb (Nadeau & Bengio 2003 corrected interval: the variance is inflated by
(1/k + n_test/n_train) k instead of 1, because folds share training data and the plain
t-interval is too narrow), n, n_cases (binary), folds_digest (a hash of the fold assignment)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.tables import align_samples

log = logging.getLogger(__name__)


def folds(y: np.ndarray, kind: str, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The seeded (train, test) index pairs used for phenotype values ``y`` (rows already sorted)."""
    if kind == "binary":
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return list(cv.split(np.zeros(len(y)), y))
    cv = KFold(n_splits=k, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(y))))


def _model(kind: str, c: dict[str, Any]):
    """The probe pipeline: scaler + RidgeCV (continuous) or + logistic regression (binary)."""
    if kind == "binary":
        return make_pipeline(
            StandardScaler(),
            LogisticRegression(C=float(c["logistic_c"]), max_iter=int(c["max_iter"])),
        )
    return make_pipeline(StandardScaler(), RidgeCV(alphas=[float(a) for a in c["ridge_alphas"]]))


def _summary(values: np.ndarray, k: int, level: float) -> dict[str, float]:
    """Mean, sd, plain and Nadeau-Bengio corrected t-intervals of k fold values."""
    mean = float(np.mean(values))
    sd = float(np.std(values, ddof=1))
    t = float(stats.t.ppf(0.5 + level / 2, k - 1))
    half = t * sd / np.sqrt(k)
    half_nb = t * sd * np.sqrt(1 / k + 1 / (k - 1))  # n_test / n_train = 1/(k-1) in k-fold
    return {
        "mean": mean,
        "sd": sd,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "ci_low_nb": mean - half_nb,
        "ci_high_nb": mean + half_nb,
    }


def probe_phenotype(
    z: np.ndarray, y: np.ndarray, kind: str, c: dict[str, Any], seed: int
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Per-fold R² (continuous) or ROC AUC (binary) of a linear probe of y from z."""
    k = int(c["folds"])
    splits = folds(y, kind, k, seed)
    values = np.empty(k)
    for i, (tr, te) in enumerate(splits):
        model = _model(kind, c).fit(z[tr], y[tr])
        if kind == "binary":
            prob = model.predict_proba(z[te])[:, list(model.classes_).index(1)]
            values[i] = roc_auc_score(y[te], prob)
        else:
            values[i] = r2_score(y[te], model.predict(z[te]))
    return values, splits


def _digest(splits: list[tuple[np.ndarray, np.ndarray]], ids: np.ndarray) -> str:
    """Hash of which sample is in which test fold (equal digests = identical folds)."""
    h = hashlib.sha256()
    for _, te in splits:
        h.update("\x1f".join(sorted(ids[te])).encode())
        h.update(b"\x1e")
    return h.hexdigest()[:16]


def restrict_to(
    ids: np.ndarray, z: np.ndarray, people: Sequence[str] | None, what: str = "embeddings"
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (ids, z) of ``people`` (the comparison's people: every space of a modality uses
    the same ones, so their folds match). None keeps every row. InputError names people of
    ``people`` that the embeddings lack."""
    ids = np.asarray(ids).astype(str)
    if people is None:
        return ids, z
    wanted = set(map(str, people))
    missing = sorted(wanted - set(ids))
    if missing:
        raise InputError(
            f"{what}: {len(missing)} of the people to compare have no embedding "
            f"(e.g. {', '.join(missing[:5])})"
        )
    keep = np.isin(ids, list(wanted))
    if (~keep).any():
        log.info(
            "probes: %d of %d people left out (not in every space compared)",
            int((~keep).sum()),
            len(ids),
        )
    return ids[keep], np.asarray(z)[keep]


def probe_embeddings(
    ids: np.ndarray,
    z: np.ndarray,
    samples: pd.DataFrame,
    cfg: dict | None,
    seed: int = 0,
    people: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Cross-validated linear probes of every configured phenotype present in ``samples``.

    ``people`` (``comparison_samples.tsv`` of the modality) restricts the probes to the people
    every space compared holds, so that all spaces are cross-validated on the same folds.
    """
    c = section("probes", cfg)
    ids, z = restrict_to(ids, z, people)
    if int(c["folds"]) > len(ids) // 2:
        raise InputError(
            f"probes.folds (--folds) = {c['folds']}: more than half the {len(ids)} people "
            "probed (every test fold needs at least 2 people)"
        )
    order = np.argsort(ids, kind="stable")
    ids, z = ids[order], np.asarray(z, dtype=np.float64)[order]
    table = align_samples(ids, samples)
    k = int(c["folds"])
    todo = [(p, "continuous") for p in c["continuous"]] + [(p, "binary") for p in c["binary"]]
    rows = []
    for pheno, kind in tqdm(todo, desc="probes", disable=None):
        if pheno not in table.columns:
            log.warning("probes: phenotype '%s' is not in the samples table; skipped", pheno)
            continue
        try:
            y = pd.to_numeric(table[pheno], errors="raise").to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InputError(f"samples: phenotype column '{pheno}' is not numeric: {err}") from err
        keep = np.isfinite(y)
        y, zk, ik = y[keep], z[keep], ids[keep]
        row: dict[str, Any] = {"phenotype": pheno, "kind": kind}
        if kind == "binary":
            bad = ~np.isin(y, (0.0, 1.0))
            if bad.any():
                raise InputError(
                    f"samples: binary phenotype '{pheno}' must be 0/1; sample {ik[bad][0]} "
                    f"has {y[bad][0]}"
                )
            y = y.astype(int)
            n_min = int(min((y == 1).sum(), (y == 0).sum()))
            row["metric"], row["n_cases"] = "roc_auc", int((y == 1).sum())
            if n_min < k:
                log.warning(
                    "probes: '%s' has %d samples in its smaller class (< %d folds); skipped",
                    pheno,
                    n_min,
                    k,
                )
                continue
        else:
            row["metric"], row["n_cases"] = "r2", np.nan
            if len(y) < 2 * k or np.ptp(y) == 0:
                log.warning("probes: '%s' has too few or constant values; skipped", pheno)
                continue
        values, splits = probe_phenotype(zk, y, kind, c, seed)
        row.update({f"fold_{i + 1}": float(v) for i, v in enumerate(values)})
        row.update(_summary(values, k, float(c["ci_level"])))
        row["n"] = int(len(y))
        row["folds_digest"] = _digest(splits, ik)
        log.info(
            "probes: %s %s = %.3f (sd %.3f, n=%d)",
            pheno,
            row["metric"],
            row["mean"],
            row["sd"],
            row["n"],
        )
        rows.append(row)
    cols = [
        "phenotype",
        "kind",
        "metric",
        *[f"fold_{i + 1}" for i in range(k)],
        "mean",
        "sd",
        "ci_low",
        "ci_high",
        "ci_low_nb",
        "ci_high_nb",
        "n",
        "n_cases",
        "folds_digest",
    ]
    return pd.DataFrame(rows, columns=cols)

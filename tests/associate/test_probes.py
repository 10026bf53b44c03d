"""Linear probes against independent scikit-learn / scipy computations and planted signal."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from regwas.associate.probes import probe_embeddings
from regwas.cli import main as cli_main
from regwas.compare.probes import compare_probes, fold_values
from regwas.config import defaults
from regwas.errors import InputError
from regwas.io.embeddings import write_embeddings
from regwas.io.tables import read_tsv


def _data(n: int = 600, d: int = 10, seed: int = 0):
    """Sorted ids; 'signal' phenotypes planted on z0/z1, 'noise' phenotypes independent of z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d))
    ids = np.array([f"id{i:05d}" for i in range(n)])  # already in sorted order
    samples = pd.DataFrame(
        {
            "sample_id": ids,
            "height": 170 + 10 * z[:, 0] - 5 * z[:, 1] + rng.normal(size=n),
            "bmi": rng.normal(27, 4, n),
            "sex_male": (rng.random(n) < 1 / (1 + np.exp(-3 * z[:, 1]))).astype(int),
            "noise_bin": rng.integers(0, 2, n),
        }
    )
    return ids, z, samples


CFG = {"continuous": ["height", "bmi"], "binary": ["sex_male", "noise_bin"], "folds": 5}


def test_auc_equals_sklearn_on_out_of_fold_probabilities():
    ids, z, samples = _data()
    res = probe_embeddings(ids, z, samples, CFG, seed=3).set_index("phenotype")
    y = samples["sex_male"].to_numpy()
    cv = StratifiedKFold(5, shuffle=True, random_state=3)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    prob = cross_val_predict(model, z, y, cv=cv, method="predict_proba")[:, 1]
    expected = [roc_auc_score(y[te], prob[te]) for _, te in cv.split(z, y)]
    got = fold_values(res.loc[["sex_male"]])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert res.loc["sex_male", "metric"] == "roc_auc"
    assert res.loc["sex_male", "n_cases"] == y.sum()


def test_r2_equals_sklearn_per_fold():
    ids, z, samples = _data()
    res = probe_embeddings(ids, z, samples, CFG, seed=3).set_index("phenotype")
    y = samples["height"].to_numpy()
    cv = KFold(5, shuffle=True, random_state=3)
    model = make_pipeline(
        StandardScaler(), RidgeCV(alphas=[float(a) for a in defaults("probes.ridge_alphas")])
    )
    pred = cross_val_predict(model, z, y, cv=cv)
    expected = [r2_score(y[te], pred[te]) for _, te in cv.split(z)]
    np.testing.assert_allclose(fold_values(res.loc[["height"]])[0], expected, rtol=1e-10)
    row = res.loc["height"]
    lo, hi = stats.t.interval(0.95, 4, loc=np.mean(expected), scale=stats.sem(expected))
    assert row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)
    assert row["sd"] == pytest.approx(np.std(expected, ddof=1))
    assert row["ci_low_nb"] < row["ci_low"] and row["ci_high_nb"] > row["ci_high"]


def test_planted_signal_and_noise():
    ids, z, samples = _data(n=1000)
    res = probe_embeddings(ids, z, samples, CFG, seed=1).set_index("phenotype")
    assert res.loc["height", "mean"] > 0.9
    assert -0.05 < res.loc["bmi", "mean"] < 0.03
    assert res.loc["sex_male", "mean"] > 0.8
    assert abs(res.loc["noise_bin", "mean"] - 0.5) < 0.06


def test_seed_determinism_and_input_order_independence():
    ids, z, samples = _data()
    a = probe_embeddings(ids, z, samples, CFG, seed=5)
    b = probe_embeddings(ids, z, samples, CFG, seed=5)
    pd.testing.assert_frame_equal(a, b)
    perm = np.random.default_rng(0).permutation(len(ids))  # rows shuffled: same folds, same result
    c = probe_embeddings(ids[perm], z[perm], samples.iloc[::-1], CFG, seed=5)
    pd.testing.assert_frame_equal(a, c)
    d = probe_embeddings(ids, z, samples, CFG, seed=6)
    assert not np.allclose(fold_values(a), fold_values(d))


def test_missing_phenotypes_skipped_and_missing_values_dropped(caplog):
    ids, z, samples = _data()
    samples.loc[:49, "height"] = np.nan
    cfg = {**CFG, "continuous": ["height", "not_there"]}
    with caplog.at_level(logging.WARNING):
        res = probe_embeddings(ids, z, samples, cfg, seed=0).set_index("phenotype")
    assert "not_there" not in res.index and "not_there" in caplog.text
    assert res.loc["height", "n"] == len(ids) - 50
    samples["bad"] = 2
    with pytest.raises(InputError, match="must be 0/1"):
        probe_embeddings(ids, z, samples, {**CFG, "binary": ["bad"]}, seed=0)


def test_compare_probes_paired_on_the_same_folds():
    ids, z, samples = _data()
    native = probe_embeddings(ids, z[:, 2:], samples, CFG, seed=2)  # z0/z1 (the signal) hidden
    registered = probe_embeddings(ids, z, samples, CFG, seed=2)
    cmp = compare_probes(native, registered).set_index("phenotype")
    a = fold_values(native.set_index("phenotype").loc[["height"]])[0]
    b = fold_values(registered.set_index("phenotype").loc[["height"]])[0]
    assert cmp.loc["height", "mean_diff"] == pytest.approx(np.mean(b - a))
    assert cmp.loc["height", "p_paired"] == pytest.approx(stats.ttest_rel(b, a).pvalue)
    assert cmp.loc["height", "p_corrected"] > cmp.loc["height", "p_paired"]
    assert cmp.loc["height", "p_corrected"] < 0.01 and cmp.loc["height", "mean_diff"] > 0.5
    other_seed = probe_embeddings(ids, z, samples, CFG, seed=9)
    with pytest.raises(InputError, match="different folds"):
        compare_probes(native, other_seed)


def test_cli(tmp_path):
    ids, z, samples = _data(n=300)
    write_embeddings(ids, z, tmp_path / "e.parquet")
    samples.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    out = tmp_path / "probes.tsv"
    rc = cli_main(
        [
            "probe",
            "--embeddings",
            str(tmp_path / "e.parquet"),
            "--samples",
            str(tmp_path / "s.tsv"),
            "--out",
            str(out),
            "--folds",
            "4",
            "--seed",
            "1",
            "--continuous",
            "height",
            "--binary",
            "sex_male",
        ]
    )
    assert rc == 0
    res = read_tsv(out)
    assert list(res["phenotype"]) == ["height", "sex_male"]
    assert [c for c in res.columns if c.startswith("fold_")] == [f"fold_{i}" for i in range(1, 5)]


def test_people_restrict_every_space_to_the_same_folds(tmp_path):
    """A person missing from one space (failed registration) is left out of all: same folds."""
    ids, z, samples = _data()
    people = [i for i in ids if i != ids[3]]
    keep = np.array([i != ids[3] for i in ids])
    native = probe_embeddings(ids, z, samples, CFG, seed=2, people=people)
    registered = probe_embeddings(ids[keep], z[keep], samples, CFG, seed=2, people=people)
    assert (native["folds_digest"] == registered["folds_digest"]).all()
    assert (native["n"] == len(people)).all()
    assert len(compare_probes(native, registered)) == len(native)
    with pytest.raises(
        InputError, match=rf"1 of the people to compare have no embedding.*{ids[3]}"
    ):
        probe_embeddings(ids[keep], z[keep], samples, CFG, seed=2, people=list(ids))
    write_embeddings(ids, z, tmp_path / "e.parquet")
    samples.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    pd.DataFrame({"sample_id": people}).to_csv(tmp_path / "people.tsv", sep="\t", index=False)
    args = ["probe", "--embeddings", str(tmp_path / "e.parquet"), "--samples"]
    args += [str(tmp_path / "s.tsv"), "--out", str(tmp_path / "p.tsv")]
    assert cli_main([*args, "--people", str(tmp_path / "people.tsv")]) == 0
    assert (pd.read_csv(tmp_path / "p.tsv", sep="\t")["n"] == len(people)).all()


def test_cli_too_many_folds_is_named(tmp_path, capsys):
    ids, z, samples = _data(n=300)
    write_embeddings(ids, z, tmp_path / "e.parquet")
    samples.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    args = ["probe", "--embeddings", str(tmp_path / "e.parquet"), "--samples"]
    args += [str(tmp_path / "s.tsv"), "--out", str(tmp_path / "p.tsv"), "--folds", "5000"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--folds" in err[0] and "300 people" in err[0]
    assert not (tmp_path / "p.tsv").exists()

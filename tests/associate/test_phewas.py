"""Phecode mapping and the held-out PheWAS against the phecodeX CSV, statsmodels and sklearn."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from sklearn.metrics import roc_auc_score

from regwas.associate.phewas.association import phewas, split_halves
from regwas.associate.phewas.phecodes import (
    case_status,
    map_icd10,
    phecode_info,
)
from regwas.cli import main as cli_main
from regwas.io.embeddings import write_embeddings
from regwas.io.phecode_map import load_phecode_map, packaged_map_path
from regwas.io.tables import read_tsv

COVS = ["age", "sex", "PC1", "PC2"]


def _cohort(n: int = 2400, d: int = 8, seed: int = 0):
    """Hypertension (I10) planted on z0; type 2 diabetes (E11.9) independent of z; prostate
    cancer (C61) in men only; hypertensive heart disease (I11) in a few people."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d))
    ids = np.array([f"p{i:05d}" for i in range(n)])
    samples = pd.DataFrame(
        {
            "sample_id": ids,
            "age": rng.normal(55, 8, n),
            "sex": rng.choice(["F", "M"], n),
            "PC1": rng.normal(size=n),
            "PC2": rng.normal(size=n),
        }
    )
    rows = []
    htn = rng.random(n) < 1 / (1 + np.exp(-(-1.8 + 0.9 * z[:, 0])))
    rows += [(i, "I10") for i in ids[htn]]
    rows += [(i, "E11.9") for i in ids[rng.random(n) < 0.12]]
    rows += [(i, "C61") for i in ids[(rng.random(n) < 0.08) & (samples["sex"] == "M")]]
    rows += [(i, "I11") for i in ids[(rng.random(n) < 0.03) & ~htn]]
    dx = pd.DataFrame(rows, columns=["sample_id", "icd10"])
    return ids, z, samples, dx


CFG = {"min_cases": 20}


@pytest.fixture(scope="module")
def result():
    ids, z, samples, dx = _cohort()
    return phewas(ids, z, samples, dx, CFG, 1, COVS).set_index("phecode")


def _csv_phecodes(icd: str) -> set[str]:
    raw = pd.read_csv(packaged_map_path(), dtype=str)
    return set(raw.loc[raw["ICD"] == icd, "phecode"])


def test_icd10_mapping_spot_checks_against_the_csv():
    pmap = load_phecode_map()
    dx = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d", "e"],
            "icd10": ["I10", "G30.1", "i219", "I21.90", "C61"],
        }
    )
    got = map_icd10(dx, pmap).groupby("sample_id")["phecode"].apply(set)
    assert got["a"] == _csv_phecodes("I10") and {"CV_401", "CV_401.1"} <= got["a"]
    assert got["b"] == _csv_phecodes("G30.1") and "NS_328.11" in got["b"]  # Alzheimer's disease
    assert got["c"] == _csv_phecodes("I21.9") == got["d"]  # undotted / truncated to I21.9
    assert "CV_404.11" in got["c"]
    assert got["e"] == _csv_phecodes("C61") and "CA_107.2" in got["e"]
    info = phecode_info(pmap)
    assert info.at["CA_107.2", "sex"] == "Male" and info.at["CV_401.1", "family"] == "CV_401"


def test_exclusions_and_sex_specific_phecodes():
    pmap = load_phecode_map()
    info = phecode_info(pmap)
    ids = np.array(["htn", "hhd", "mi", "none", "prostate", "woman"])
    sex = np.array(["M", "M", "F", "F", "M", "F"])
    dx = pd.DataFrame(
        {"sample_id": ["htn", "hhd", "mi", "prostate"], "icd10": ["I10", "I11", "I21", "C61"]}
    )
    person = map_icd10(dx, pmap)
    st = case_status(ids, sex, person, info, exclusion="family")
    # essential hypertension: I11 (CV_401.2, same family CV_401) is no control; MI is
    np.testing.assert_array_equal(st["CV_401.1"], [1, np.nan, 0, 0, 0, 0])
    np.testing.assert_array_equal(st["CV_401"], [1, 1, 0, 0, 0, 0])
    # prostate cancer is male-only: women are not analysed
    np.testing.assert_array_equal(st["CA_107.2"], [0, 0, np.nan, np.nan, 1, np.nan])
    why: dict = {}
    case_status(ids, sex, person, info, exclusion="family", reasons=why)
    np.testing.assert_array_equal(why["CV_401.1"], [0, 1, 0, 0, 0, 0])  # 1: family
    np.testing.assert_array_equal(why["CA_107.2"], [0, 0, 3, 3, 0, 3])  # 3: sex
    st_none = case_status(ids, sex, person, info, exclusion="none")
    np.testing.assert_array_equal(st_none["CV_401.1"], [1, 0, 0, 0, 0, 0])


def test_beta_se_equal_independent_statsmodels_fit_on_the_same_half(result):
    ids, z, samples, dx = _cohort()
    code = "CV_401.1"
    has_i10 = samples["sample_id"].isin(dx.loc[dx["icd10"] == "I10", "sample_id"])
    has_i11 = samples["sample_id"].isin(dx.loc[dx["icd10"] == "I11", "sample_id"])
    keep = ~(has_i11 & ~has_i10)  # I11 without I10 is excluded from controls (same family)
    y = has_i10[keep].to_numpy(int)
    zk, data = z[keep.to_numpy()], samples[keep].reset_index(drop=True)
    a, b = split_halves(y, 1, code)
    assert len(np.intersect1d(a, b)) == 0 and len(a) + len(b) == len(y)
    assert abs(y[a].sum() - y[b].sum()) <= 1  # stratified
    w = zk[a][y[a] == 1].mean(0) - zk[a][y[a] == 0].mean(0)
    s = zk[b] @ w
    data_b = data.iloc[b].assign(case=y[b], s=(s - s.mean()) / s.std())
    fit = smf.logit("case ~ s + age + C(sex) + PC1 + PC2", data=data_b).fit(disp=0)
    row = result.loc[code]
    assert row["n_cases"] == y.sum() and row["n_controls"] == len(y) - y.sum()
    assert row["beta"] == pytest.approx(fit.params["s"], rel=1e-6)
    assert row["se"] == pytest.approx(fit.bse["s"], rel=1e-6)
    assert row["p_value"] == pytest.approx(fit.pvalues["s"], rel=1e-5)
    assert row["auc_projection"] == pytest.approx(roc_auc_score(y[b], s), abs=1e-12)


def test_planted_link_found_and_null_not(result):
    m = len(result)
    assert m >= 6  # CV_401, CV_401.1, EM_202, EM_202.2, CA_107, CA_107.2, CA_130, ...
    for code in ("CV_401", "CV_401.1"):
        assert result.loc[code, "significant"] and result.loc[code, "beta"] > 0
        assert result.loc[code, "auc_projection"] > 0.65
        assert result.loc[code, "auc_full"] > result.loc[code, "auc_covariates"] + 0.1
    for code in ("EM_202", "EM_202.2"):
        assert not result.loc[code, "significant"]
        assert abs(result.loc[code, "auc_projection"] - 0.5) < 0.07
        assert abs(result.loc[code, "delta_auc"]) < 0.07
    assert result.loc["CA_107.2", "n_cases"] + result.loc["CA_107.2", "n_controls"] < 2400 * 0.6
    sig = result["significant"]
    assert (sig == (result["p_value"] < 0.05 / m)).all()


def test_perfect_separation_gives_nan_row_and_warning(caplog):
    rng = np.random.default_rng(3)
    n = 400
    z = rng.normal(size=(n, 1))  # one dimension: the projection is z0 itself, so it separates
    ids = np.array([f"q{i:04d}" for i in range(n)])
    samples = pd.DataFrame(
        {"sample_id": ids, "age": rng.normal(50, 5, n), "sex": rng.choice(["F", "M"], n)}
    )
    dx = pd.DataFrame({"sample_id": ids[z[:, 0] > 1.0], "icd10": "I10"})
    with caplog.at_level(logging.WARNING):
        res = phewas(ids, z, samples, dx, {}, 0, ["age", "sex"])
    row = res.set_index("phecode").loc["CV_401.1"]
    assert np.isnan(row["beta"]) and np.isnan(row["p_value"]) and not row["significant"]
    assert row["note"] != "ok" and "CV_401.1" in caplog.text
    assert row["auc_projection"] == 1.0
    # the held-out AUC of covariates + s separates too: its folds used the penalised model
    assert "auc_full folds fell back to an L2-penalised logistic fit" in row["note"]


def test_penalised_fallback_is_counted_per_fold():
    """_oof_auc counts the folds where maximum likelihood failed (a separating column: every
    fold) and none where it works."""
    from regwas.associate.phewas.association import _oof_auc

    rng = np.random.default_rng(8)
    y = (rng.random(300) < 0.3).astype(int)
    sep = np.column_stack([y + 0.01 * rng.random(300), rng.normal(size=300)])
    auc, n_pen = _oof_auc(sep, y, 5, 1, 100)
    assert n_pen == 5 and auc > 0.99
    auc, n_pen = _oof_auc(rng.normal(size=(300, 2)), y, 5, 1, 100)
    assert n_pen == 0 and 0.3 < auc < 0.7


def test_n_excluded_counts_every_exclusion_with_its_reason():
    """n_excluded = people neither case nor control, by reason: counted directly from the
    diagnoses (family: I11 without I10 for essential hypertension; sex: women for prostate
    cancer; missing covariates)."""
    ids, z, samples, dx = _cohort(n=1200)
    samples = samples.copy()
    samples.loc[samples.index[:7], "age"] = np.nan  # 7 people with a missing covariate
    res = phewas(ids, z, samples, dx, CFG, 2, COVS).set_index("phecode")
    missing = set(samples["sample_id"][samples["age"].isna()])
    i10 = set(dx.loc[dx["icd10"] == "I10", "sample_id"])
    i11 = set(dx.loc[dx["icd10"] == "I11", "sample_id"])
    family = (i11 - i10) - missing
    htn = res.loc["CV_401.1"]
    assert htn["excluded_by"] == f"family {len(family)}, missing_covariates {len(missing)}"
    assert htn["n_excluded"] == len(family) + len(missing)
    women = set(samples.loc[samples["sex"] == "F", "sample_id"]) - missing
    prostate = res.loc["CA_107.2"]
    assert prostate["excluded_by"] == f"sex {len(women)}, missing_covariates {len(missing)}"
    assert prostate["n_excluded"] == len(women) + len(missing)


def test_seed_determinism_and_min_cases():
    ids, z, samples, dx = _cohort(n=1200)
    a = phewas(ids, z, samples, dx, CFG, 4, COVS)
    b = phewas(ids[::-1], z[::-1], samples, dx, CFG, 4, COVS)  # input order does not matter
    pd.testing.assert_frame_equal(a, b)
    few = phewas(ids, z, samples, dx, {**CFG, "min_cases": 10_000}, 4, COVS)
    assert len(few) == 0 and list(few.columns) == list(a.columns)


def test_cli(tmp_path):
    ids, z, samples, dx = _cohort(n=1000)
    write_embeddings(ids, z, tmp_path / "e.parquet")
    samples.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    dx.to_csv(tmp_path / "d.tsv", sep="\t", index=False)
    out = tmp_path / "phewas.tsv"
    rc = cli_main(
        [
            "phewas",
            "--embeddings",
            str(tmp_path / "e.parquet"),
            "--samples",
            str(tmp_path / "s.tsv"),
            "--diagnoses",
            str(tmp_path / "d.tsv"),
            "--out",
            str(out),
            "--seed",
            "2",
            "--min-cases",
            "30",
            "--covariates",
            "age,sex,PC1",
        ]
    )
    assert rc == 0
    res = read_tsv(out)
    for col in [
        "phecode",
        "description",
        "category",
        "n_cases",
        "n_controls",
        "beta",
        "se",
        "p_value",
        "auc_projection",
        "auc_covariates",
        "auc_full",
        "significant",
    ]:
        assert col in res.columns
    assert (res["n_cases"] >= 30).all()
    bad = dx.assign(icd10="not a code")
    bad.to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    rc = cli_main(
        [
            "phewas",
            "--embeddings",
            str(tmp_path / "e.parquet"),
            "--samples",
            str(tmp_path / "s.tsv"),
            "--diagnoses",
            str(tmp_path / "bad.tsv"),
            "--out",
            str(tmp_path / "x.tsv"),
        ]
    )
    assert rc == 2 and not (tmp_path / "x.tsv").exists()


def test_bad_code_is_named_by_file_line_and_sample(tmp_path):
    """A code that is not ICD-10 is reported as the user sees it: the file, its line (header =
    line 1) and the sample id; an empty diagnoses table is refused in the cohort stage's words."""
    from regwas.errors import InputError

    pmap = load_phecode_map()
    path = tmp_path / "dx.tsv"
    path.write_text("sample_id\ticd10\nA\tI10\nB\tI48.0\nC\t12X\n")
    with pytest.raises(InputError) as err:
        map_icd10(read_tsv(path, dtype=str), pmap)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "line 4 (sample_id C): '12X'" in msg
    assert "\n" not in msg
    path.write_text("sample_id\ticd10\n")
    with pytest.raises(InputError, match="the table has a header but no data rows"):
        map_icd10(read_tsv(path, dtype=str), pmap)

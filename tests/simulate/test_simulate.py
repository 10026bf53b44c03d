"""Tests of the synthetic biobank core: genotypes vs plink2, planted truth, determinism, errors."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import yaml
from scipy import stats

from regwas.errors import InputError
from regwas.io.atomic import sha256_file
from regwas.io.phecode_map import packaged_map_path
from regwas.simulate import cohort
from regwas.simulate import genotypes as gt
from regwas.simulate import phenotypes as ph
from regwas.simulate.cohort import component_seed, simulate

PLINK2 = shutil.which("plink2")
SEED = 11
ECG_NAMES = ["f0", "f1", "f2"]
BRAIN_NAMES = ["ventricle_volume", "frontal_gm"]

# A small cohort: 8 chromosomes of 1 Mb, 4 factors x 2 causal variants, strong disease effects.
CFG = {
    "n_samples": 800,
    "render": False,
    "genotypes": {"n_chromosomes": 8, "chromosome_length": 1_000_000},
    "factors": {
        "names": {"ecg": ECG_NAMES, "brain": BRAIN_NAMES},
        "causal_per_factor": 2,
        "variance_per_variant": 0.08,
        "ancestry_shift": 0.4,
    },
    "diseases": [
        {"icd10": "I44.7", "modality": "ecg", "factor": 0, "log_odds_ratio": 1.0, "prevalence": 0.1},
        {"icd10": "I50.9", "modality": "ecg", "factor": "f2", "log_odds_ratio": -1.0, "prevalence": 0.12},
        {"icd10": "G30.9", "modality": "brain", "factor": "ventricle_volume", "log_odds_ratio": 0.9, "prevalence": 0.1},
        {"icd10": "J45.9", "modality": None, "factor": None, "log_odds_ratio": 0.0, "prevalence": 0.1},
    ],
}  # fmt: skip

# Tiny config for determinism / CLI / error tests.
TINY = {
    "n_samples": 150,
    "render": False,
    "modalities": ["ecg"],
    "genotypes": {"n_chromosomes": 3, "chromosome_length": 300_000},
    "factors": {"names": {"ecg": ["a", "b"]}, "causal_per_factor": 1, "min_causal_distance": 0},
    "diseases": [
        {"icd10": "I44.7", "modality": "ecg", "factor": "b", "log_odds_ratio": 1.0, "prevalence": 0.1},
        {"icd10": "J45.9", "prevalence": 0.1},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "biobank"
    simulate(CFG, SEED, out, threads=2)
    return out


def _dosage(out: Path, chrom: int) -> np.ndarray:
    """ALT counts people x variants read back with bed-reader (independent of pgenlib)."""
    from bed_reader import open_bed

    with open_bed(out / "genotypes" / f"chr{chrom}.bed", count_A1=True) as bed:
        return bed.read(dtype="float64")


def _pop_dummies(out: Path) -> np.ndarray:
    anc = pd.read_csv(out / "truth" / "ancestry.tsv", sep="\t")
    return pd.get_dummies(anc["population"], drop_first=True).to_numpy(float)


@pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed")
def test_plink2_reads_alt_counts(cohort_dir: Path, tmp_path: Path) -> None:
    """plink2's ALT counts equal msprime's derived-allele counts; A1 = ALT = derived, A2 = REF."""
    c = cohort.resolve_config(CFG)
    sizes = gt.population_sizes(c["genotypes"]["populations"], c["n_samples"])
    seeds = gt.chromosome_seeds(component_seed(SEED, "genotypes"), 8)
    dosage, bim, _, _ = gt.simulate_chromosome(2, c["genotypes"], sizes, seeds[1])
    order = np.random.default_rng(component_seed(SEED, "order")).permutation(c["n_samples"])
    prefix = cohort_dir / "genotypes" / "chr2"
    subprocess.run(
        [PLINK2, "--bfile", str(prefix), "--freq", "counts", "--out", str(tmp_path / "f")],
        check=True,
        capture_output=True,
    )
    acount = pd.read_csv(tmp_path / "f.acount", sep="\t")
    assert acount["ID"].tolist() == bim["variant_id"].tolist()
    assert acount["ALT"].tolist() == bim["alt"].tolist()  # derived allele
    assert acount["REF"].tolist() == bim["ref"].tolist()  # ancestral allele
    np.testing.assert_array_equal(acount["ALT_CTS"].to_numpy(), dosage.sum(axis=0))
    assert (acount["OBS_CT"] == 2 * c["n_samples"]).all()
    # per person: plink2 --export A counts REF alleles, in .fam order
    subprocess.run(
        [PLINK2, "--bfile", str(prefix), "--export", "A", "--out", str(tmp_path / "r")],
        check=True,
        capture_output=True,
    )
    raw = pd.read_csv(tmp_path / "r.raw", sep="\t")
    assert raw.columns[6:].tolist() == [
        f"{v}_{r}" for v, r in zip(bim.variant_id, bim.ref, strict=True)
    ]
    np.testing.assert_array_equal(2 - raw.iloc[:, 6:].to_numpy(), dosage[order])
    samples = pd.read_csv(cohort_dir / "samples.tsv", sep="\t")
    assert raw["IID"].tolist() == samples["sample_id"].tolist()
    assert (raw["SEX"].to_numpy() == np.where(samples["sex"] == "F", 2, 1)).all()


def test_variant_qc(cohort_dir: Path) -> None:
    """Every variant passes min_maf; ids unique; positions strictly increasing; SNV alleles."""
    ids = []
    for chrom in range(1, 9):
        bim = pd.read_csv(
            cohort_dir / "genotypes" / f"chr{chrom}.bim", sep="\t", header=None, dtype={1: str}
        )
        pos = bim[3].to_numpy()
        assert pos[0] >= 1 and (np.diff(pos) > 0).all()
        assert 1000 < len(bim) < 5000  # ~1-3k variants per Mb after the MAF filter
        assert set(bim[4]) | set(bim[5]) <= set("ACGT") and (bim[4] != bim[5]).all()
        freq = _dosage(cohort_dir, chrom).mean(axis=0) / 2
        assert np.minimum(freq, 1 - freq).min() >= 0.01
        ids += bim[1].tolist()
    assert len(ids) == len(set(ids))


def test_causal_variants_associated(cohort_dir: Path) -> None:
    """Each planted variant is associated with its factor with the planted effect; nulls are not."""
    causal = pd.read_csv(cohort_dir / "truth" / "causal_variants.tsv", sep="\t")
    factors = pd.read_csv(cohort_dir / "truth" / "factors.tsv", sep="\t", index_col="sample_id")
    assert len(causal) == 2 * (len(ECG_NAMES) + len(BRAIN_NAMES))
    assert (
        np.minimum(causal.effect_allele_frequency, 1 - causal.effect_allele_frequency) >= 0.05
    ).all()
    pops = _pop_dummies(cohort_dir)
    rng = np.random.default_rng(0)
    null_hits = null_tests = 0
    for chrom in range(1, 9):
        g = _dosage(cohort_dir, chrom)
        bim = pd.read_csv(
            cohort_dir / "genotypes" / f"chr{chrom}.bim", sep="\t", header=None, dtype={1: str}
        )
        here = causal[causal.chromosome == chrom]
        for row in here.itertuples():
            j = int(np.flatnonzero(bim[1].to_numpy() == row.variant_id)[0])
            assert bim.loc[j, 4] == row.effect_allele
            y = factors[f"{row.modality}.{row.factor}"].to_numpy()
            fit = sm.OLS(y, sm.add_constant(np.column_stack([g[:, j], pops]))).fit()
            assert fit.pvalues[1] < 1e-5, row.variant_id
            assert abs(fit.params[1] - row.effect) < 4 * fit.bse[1]
        # null variants: chromosomes without a causal variant for the factor
        maf = np.minimum(g.mean(0) / 2, 1 - g.mean(0) / 2)
        common = np.flatnonzero(maf > 0.05)
        for col in factors.columns:
            mod, fac = col.split(".")
            if (
                (causal.modality == mod) & (causal.factor == fac) & (causal.chromosome == chrom)
            ).any():
                continue
            for j in rng.choice(common, 10, replace=False):
                fit = sm.OLS(
                    factors[col].to_numpy(), sm.add_constant(np.column_stack([g[:, j], pops]))
                ).fit()
                null_hits += fit.pvalues[1] < 0.01
                null_tests += 1
    assert null_tests > 200
    assert null_hits / null_tests < 0.04


def test_ancestry_structure(cohort_dir: Path) -> None:
    """Top genetic PCs separate the planted populations; the ancestry shift moves factor means."""
    from sklearn.decomposition import PCA

    anc = pd.read_csv(cohort_dir / "truth" / "ancestry.tsv", sep="\t")
    assert anc["population"].value_counts().to_dict() == {"popA": 480, "popB": 200, "popC": 120}
    g = np.hstack([_dosage(cohort_dir, c)[:, ::4] for c in range(1, 9)])
    g = g[:, g.std(0) > 0]
    pcs = PCA(n_components=2, random_state=0).fit_transform((g - g.mean(0)) / g.std(0))
    pop = anc["population"].to_numpy()
    # between-population share of variance of PC1 and PC2 (one-way ANOVA R^2)
    for k in range(2):
        x = pcs[:, k]
        between = sum((pop == p).sum() * (x[pop == p].mean() - x.mean()) ** 2 for p in set(pop))
        assert between / (len(x) * x.var()) > 0.8
    factors = pd.read_csv(cohort_dir / "truth" / "factors.tsv", sep="\t")
    for col in factors.columns[1:]:
        groups = [factors[col][pop == p] for p in sorted(set(pop))]
        assert stats.f_oneway(*groups).pvalue < 1e-3, col


def test_diseases(cohort_dir: Path) -> None:
    """Prevalences near configured; association sign and size match truth; codes map to phecodes."""
    diag = pd.read_csv(cohort_dir / "diagnoses.tsv", sep="\t", dtype=str)
    truth = pd.read_csv(
        cohort_dir / "truth" / "disease_effects.tsv", sep="\t", keep_default_na=False
    )
    samples = pd.read_csv(cohort_dir / "samples.tsv", sep="\t")
    factors = pd.read_csv(cohort_dir / "truth" / "factors.tsv", sep="\t", index_col="sample_id")
    phemap = pd.read_csv(packaged_map_path(), dtype=str)
    assert set(diag["icd10"]) <= set(phemap["ICD"])
    assert not diag.duplicated().any() and set(diag["sample_id"]) <= set(samples["sample_id"])
    assert len(set(diag["icd10"])) > len(truth)  # background codes present
    n = len(samples)
    age = (samples["age"] - samples["age"].mean()) / samples["age"].std()
    assert truth["icd10"].tolist() == ["I44.7", "I50.9", "G30.9", "J45.9"]
    assert truth.loc[0, "factor"] == "f0"  # resolved from the index
    for row in truth.itertuples():
        case = samples["sample_id"].isin(diag.loc[diag.icd10 == row.icd10, "sample_id"]).to_numpy()
        assert abs(case.mean() - row.prevalence) < 4 * np.sqrt(
            row.prevalence * (1 - row.prevalence) / n
        )
        assert set(row.phecodes.split(";")) == set(phemap.loc[phemap.ICD == row.icd10, "phecode"])
        if row.factor:
            f = factors[f"{row.modality}.{row.factor}"].to_numpy()
            fit = sm.Logit(case.astype(float), sm.add_constant(np.column_stack([f, age]))).fit(
                disp=0
            )
            assert np.sign(fit.params[1]) == np.sign(row.log_odds_ratio)
            assert fit.pvalues[1] < 1e-3
            assert abs(fit.params[1] - row.log_odds_ratio) < 4 * fit.bse[1]
        else:
            assert row.log_odds_ratio == 0


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_determinism_and_cli(tmp_path: Path) -> None:
    """Same seed -> byte-identical files (any threads, API or CLI); another seed -> different."""
    from regwas.cli import main

    simulate(TINY, 5, tmp_path / "a", threads=1)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"seed": 5, "simulate": TINY}))
    assert (
        main(["simulate", "--config", str(config), "--out", str(tmp_path / "b"), "--threads", "2"])
        == 0
    )
    simulate(TINY, 6, tmp_path / "c")
    a, b, c = (_digests(tmp_path / x) for x in "abc")
    assert a == b and len(a) >= 14
    assert a["genotypes/chr1.bed"] != c["genotypes/chr1.bed"]
    assert a["samples.tsv"] != c["samples.tsv"]


def _overlay(base: dict, change: dict) -> dict:
    out = dict(base)
    for k, v in change.items():
        out[k] = (
            _overlay(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
        )
    return out


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"n_samples": -5}, "simulate.n_samples"),
        ({"genotypes": {"min_mafx": 0.1}}, "simulate.genotypes.min_mafx"),
        ({"genotypes": {"populations": {"a": 0.5, "b": 0.4}}}, "simulate.genotypes.populations"),
        (
            {"factors": {"causal_per_factor": 2, "variance_per_variant": 0.45}},
            "simulate.factors.variance_per_variant",
        ),
        ({"diseases": [{"icd10": "Q99.99", "prevalence": 0.1}]}, "simulate.diseases"),
        (
            {"diseases": [{"icd10": "I48.9", "modality": "ecg", "factor": 7, "prevalence": 0.1}]},
            "simulate.diseases[0].factor",
        ),
        (
            {
                "factors": {
                    "causal_per_factor": 9,
                    "variance_per_variant": 0.01,
                    "min_causal_distance": 200_000,
                }
            },
            "simulate.factors.causal_per_factor",
        ),
    ],
)
def test_bad_config(tmp_path: Path, change: dict, key: str) -> None:
    """A bad key or value raises InputError naming it, and leaves no output behind."""
    cfg = _overlay(TINY, change)
    with pytest.raises(InputError, match=re.escape(key)):
        simulate(cfg, 1, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_config_exits_2(tmp_path: Path) -> None:
    from regwas.cli import main

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"seed": 1, "simulate": {**TINY, "sites": 0}}))
    assert main(["simulate", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after the genotypes are written leaves neither out_dir nor a temp directory."""

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ph, "simulate_diagnoses", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate(TINY, 1, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_intercept_hits_prevalence() -> None:
    """The solved intercept makes the expected case fraction equal the prevalence."""
    from scipy.special import expit

    lin = np.random.default_rng(0).normal(0, 1.5, 5000)
    a = ph.solve_intercept(lin, 0.07)
    assert abs(expit(a + lin).mean() - 0.07) < 1e-9


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("regwas.simulate.ecg") is None
    or importlib.util.find_spec("regwas.simulate.brain") is None,
    reason="renderers not present",
)
def test_end_to_end_with_renderers(tmp_path: Path) -> None:
    """A tiny cohort with both renderers: manifests point at files; phenotypes join samples."""
    cfg = {
        "n_samples": 40,
        "genotypes": {"n_chromosomes": 10, "chromosome_length": 1_000_000},
        "factors": {"causal_per_factor": 1},
    }
    out = simulate(cfg, 3, tmp_path / "bb", threads=2)
    samples = pd.read_csv(out / "samples.tsv", sep="\t")
    assert {"sample_id", "age", "sex", "bmi", "height", "site"} <= set(samples.columns)
    assert len(samples.columns) > 6
    for m in ("ecg", "brain"):
        man = pd.read_csv(out / f"{m}.manifest.tsv", sep="\t")
        assert man["sample_id"].tolist() == samples["sample_id"].tolist()
        for col in [c for c in man.columns if c.endswith("path")]:
            # WFDB paths name the record (out/ecg/S000001 -> .hea + .dat)
            assert all((out / p).is_file() or (out / f"{p}.hea").is_file() for p in man[col])
    assert {"sample_id", "path", "t2_path", "label_path"} <= set(
        pd.read_csv(out / "brain.manifest.tsv", sep="\t").columns
    )


def test_cli_never_deletes_user_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--out` holding a user's file, or the working directory: exit 2, nothing touched."""
    from regwas.cli import main

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"seed": 1, "simulate": TINY}))
    user = tmp_path / "data"
    user.mkdir()
    (user / "important.txt").write_text("keep")
    assert main(["simulate", "--config", str(config), "--out", str(user)]) == 2
    assert [p.name for p in user.iterdir()] == ["important.txt"]
    monkeypatch.chdir(user)
    assert main(["simulate", "--config", str(config), "--out", ".", "--force"]) == 2
    assert [p.name for p in user.iterdir()] == ["important.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "data"]


def test_imaged_subset_and_causal_variants_per_modality(tmp_path: Path) -> None:
    """simulate.imaged_fraction images a seeded subset (manifest and image phenotypes only for
    them); factors.causal_per_modality sets a modality's causal count; the planted skeletal
    codes of the defaults are drawn with their DXA factor."""
    cfg = {
        "n_samples": 60,
        "modalities": ["dxa"],
        "imaged_fraction": {"dxa": 0.5},
        "genotypes": {"n_chromosomes": 3, "chromosome_length": 300_000},
        "factors": {"causal_per_factor": 3, "causal_per_modality": {"dxa": 1}},
    }
    out = simulate(cfg, 4, tmp_path / "bb")
    samples = pd.read_csv(out / "samples.tsv", sep="\t")
    man = pd.read_csv(out / "dxa.manifest.tsv", sep="\t")
    assert len(man) == 30 and set(man["sample_id"]) < set(samples["sample_id"])
    imaged = samples["sample_id"].isin(man["sample_id"])
    assert samples.loc[imaged, "dxa_height_mm"].notna().all()
    assert samples.loc[~imaged, "dxa_height_mm"].isna().all()
    causal = pd.read_csv(out / "truth/causal_variants.tsv", sep="\t")
    assert causal.groupby("factor").size().to_dict() == {"bmd": 1, "height": 1, "hip_width": 1}
    truth = pd.read_csv(out / "truth/disease_effects.tsv", sep="\t").set_index("icd10")
    assert truth.loc["M81.9", "factor"] == "bmd" and truth.loc["M16.9", "factor"] == "hip_width"
    assert "I51.7" not in truth.index  # cardiac is not simulated: its codes are skipped
    # the subset is seeded: the same seed images the same people
    again = simulate(cfg, 4, tmp_path / "bb2")
    assert pd.read_csv(again / "dxa.manifest.tsv", sep="\t")["sample_id"].equals(man["sample_id"])
    with pytest.raises(InputError, match="imaged_fraction.*cardiac"):
        simulate({**cfg, "imaged_fraction": {"cardiac": 0.5}}, 4, tmp_path / "bb3")

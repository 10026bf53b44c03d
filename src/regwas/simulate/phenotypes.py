"""People, latent biological factors with planted causal variants, and ICD-10 diagnoses.

Each factor = causal variants x effects + age/sex/BMI + a population-specific mean shift
(ancestry confounding) + noise, standardised. Disease risks depend on factors through a
logistic model whose intercept is solved to hit the configured prevalence, so the PheWAS has
planted truth as well.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from regwas.errors import InputError
from regwas.io.phecode_map import packaged_map_path

log = logging.getLogger(__name__)


@functools.cache
def icd10_phecodes() -> pd.DataFrame:
    """ICD-10 code -> phecodes (';'-joined) and the sexes they apply to, from phecodeX_WHO."""
    table = pd.read_csv(packaged_map_path(), dtype=str, usecols=["phecode", "ICD", "sex"])
    return table.groupby("ICD", sort=True).agg(
        phecodes=("phecode", lambda s: ";".join(sorted(set(s)))),
        sexes=("sex", lambda s: ";".join(sorted(set(s)))),
    )


def check_codes(codes: list[str], key: str) -> None:
    """Raise InputError naming ``key`` if a code does not map to any phecodeX_WHO phecode."""
    known = icd10_phecodes().index
    bad = [c for c in codes if c not in known]
    if bad:
        raise InputError(
            f"{key}: ICD-10 code(s) {bad} do not map to any phecode in {packaged_map_path().name}"
            " (write WHO codes with the dot, e.g. 'G30.1')"
        )


def simulate_people(
    n: int, cfg: dict, n_sites: int, rng: np.random.Generator, sample_ids: list[str]
) -> pd.DataFrame:
    """Age, sex, BMI, height and assessment site for n people."""
    female = rng.random(n) < float(cfg["female_fraction"])
    age = np.clip(
        rng.normal(cfg["age_mean"], cfg["age_sd"], n), cfg["age_min"], cfg["age_max"]
    ).round(1)
    age_z = (age - cfg["age_mean"]) / max(cfg["age_sd"], 1e-9)
    bmi = np.exp(
        np.log(cfg["bmi_median"])
        + 0.02 * age_z
        - 0.01 * female
        + rng.normal(0, cfg["bmi_log_sd"], n)
    ).round(1)
    height = np.where(female, rng.normal(163.0, 6.5, n), rng.normal(176.5, 7.0, n)).round(1)
    site = rng.integers(0, n_sites, n)
    return pd.DataFrame(
        {
            "sample_id": sample_ids,
            "age": age,
            "sex": np.where(female, "F", "M"),
            "bmi": bmi,
            "height": height,
            "site": [f"site{k + 1}" for k in site],
        }
    )


def ancestry_sites(
    population: np.ndarray, n_sites: int, strength: float, rng: np.random.Generator
) -> list[str]:
    """Assessment site per person, dependent on ancestry as in real biobanks: a person of
    group i attends the group's home site (i mod n_sites) + 1 with probability ``strength``,
    else a site drawn uniformly. Allele frequencies then differ by site, so site must be
    partialled out of the genotypes wherever it is removed from the embeddings."""
    population = np.asarray(population, dtype=np.int64)
    home = population % n_sites
    other = rng.integers(0, n_sites, len(population))
    site = np.where(rng.random(len(population)) < strength, home, other)
    return [f"site{k + 1}" for k in site]


def select_causal_variants(
    variants: pd.DataFrame,
    factor_keys: list[tuple[str, str]],
    cfg: dict,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Pick causal variants per factor: MAF >= min_causal_maf in every population (so a
    variant stays detectable after adjusting for ancestry), >= min_causal_distance apart,
    spread over chromosomes (round robin over a shuffled chromosome order).

    ``variants`` has chromosome (int), index (row in its .bim), variant_id, position, alt, ref,
    maf and min_population_maf.
    """
    k_default = int(cfg["causal_per_factor"])
    k_by = {m: int(v) for m, v in (cfg.get("causal_per_modality") or {}).items()}
    min_dist = int(cfg["min_causal_distance"])
    min_maf = float(cfg["min_causal_maf"])
    cand = variants[(variants["maf"] >= min_maf) & (variants["min_population_maf"] >= min_maf)]
    by_chrom = {c: g for c, g in cand.groupby("chromosome", sort=True)}
    chroms = rng.permutation(np.array(sorted(by_chrom), dtype=np.int64))
    picked: dict[int, list[int]] = {int(c): [] for c in chroms}
    rows = []
    slot = 0
    total = sum(k_by.get(m, k_default) for m, _ in factor_keys)
    for modality, factor in factor_keys:
        for _ in range(k_by.get(modality, k_default)):
            found = None
            for step in range(len(chroms)):
                c = int(chroms[(slot + step) % len(chroms)])
                g = by_chrom[c]
                pos = g["position"].to_numpy()
                ok = np.ones(len(g), dtype=bool)
                for p in picked[c]:
                    ok &= np.abs(pos - p) >= min_dist
                if ok.any():
                    found = g.iloc[int(rng.choice(np.flatnonzero(ok)))]
                    picked[c].append(int(found["position"]))
                    break
            if found is None:
                raise InputError(
                    f"simulate.factors.causal_per_factor: cannot place {total} "
                    f"causal variants with MAF >= {min_maf} (in every population) at least "
                    f"{min_dist} bp apart; lower causal_per_factor (or causal_per_modality) or "
                    "min_causal_distance, or "
                    "simulate more or longer chromosomes"
                )
            rows.append({"modality": modality, "factor": factor, **found.to_dict()})
            slot += 1
    return pd.DataFrame(rows, columns=["modality", "factor", *variants.columns])


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def simulate_factors(
    people: pd.DataFrame,
    population: np.ndarray,
    causal: pd.DataFrame,
    dosages: np.ndarray,
    factor_keys: list[tuple[str, str]],
    cfg: dict,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Standardised factors (sample_id index, columns 'modality.factor') and the causal table
    with effects per ALT allele in factor-SD units.

    ``dosages`` holds ALT counts of the rows of ``causal`` (people x causal variants).
    """
    n = len(people)
    age_z = _standardise(people["age"].to_numpy(float))
    sex_z = _standardise((people["sex"].to_numpy() == "M").astype(float))
    bmi_z = _standardise(np.log(people["bmi"].to_numpy(float)))
    n_pop = int(population.max()) + 1
    h = float(cfg["variance_per_variant"])
    values = {}
    causal = causal.copy()
    causal["effect"] = np.nan
    causal["variance_explained"] = np.nan
    for modality, factor in factor_keys:
        rows = np.flatnonzero(
            (causal["modality"].to_numpy() == modality) & (causal["factor"].to_numpy() == factor)
        )
        g = dosages[:, rows]
        g_mean, g_sd = g.mean(axis=0), g.std(axis=0)
        b = np.sqrt(h) * rng.choice([-1.0, 1.0], size=len(rows))
        genetic = ((g - g_mean) / g_sd) @ b
        signs = rng.choice([-1.0, 1.0], size=3)
        covar = (
            signs[0] * cfg["age_effect"] * age_z
            + signs[1] * cfg["sex_effect"] * sex_z
            + signs[2] * cfg["bmi_effect"] * bmi_z
        )
        offsets = rng.normal(size=n_pop)
        if n_pop > 1:
            offsets = (offsets - offsets.mean()) / offsets.std() * float(cfg["ancestry_shift"])
        else:
            offsets = np.zeros(1)
        systematic = genetic + covar + offsets[population]
        noise_sd = np.sqrt(max(1.0 - systematic.var(), 0.25))
        raw = systematic + rng.normal(0.0, noise_sd, n)
        mean, sd = raw.mean(), raw.std()
        values[f"{modality}.{factor}"] = (raw - mean) / sd
        causal.loc[causal.index[rows], "effect"] = b / g_sd / sd
        causal.loc[causal.index[rows], "variance_explained"] = b**2 / sd**2
    factors = pd.DataFrame(values, index=pd.Index(people["sample_id"].to_numpy(), name="sample_id"))
    return factors, causal


def solve_intercept(linear: np.ndarray, prevalence: float) -> float:
    """Intercept a with mean(expit(a + linear)) == prevalence (the expected case fraction)."""
    return float(brentq(lambda a: expit(a + linear).mean() - prevalence, -50.0, 50.0, xtol=1e-10))


def simulate_diagnoses(
    people: pd.DataFrame,
    factors: pd.DataFrame,
    diseases: list[dict],
    background: list[dict],
    age_effect: float,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long table (sample_id, icd10) of diagnoses and the disease-effect truth table.

    ``diseases`` entries carry a resolved factor name (or None for null codes). Codes whose
    phecodes are all female- (male-) specific are given to women (men) only.
    """
    n = len(people)
    ids = people["sample_id"].to_numpy()
    age_z = _standardise(people["age"].to_numpy(float))
    sex = people["sex"].to_numpy()
    phe = icd10_phecodes()
    rows, truth = [], []
    for d in diseases:
        code = d["icd10"]
        eligible = _eligible(phe.loc[code, "sexes"], sex)
        linear = (
            float(d["log_odds_ratio"])
            * (
                factors[f"{d['modality']}.{d['factor']}"].to_numpy()
                if d["factor"] is not None
                else 0.0
            )
            + age_effect * age_z
        )
        linear = np.broadcast_to(linear, (n,))
        a = solve_intercept(linear[eligible], float(d["prevalence"]))
        p = np.where(eligible, expit(a + linear), 0.0)
        cases = rng.random(n) < p
        rows.append(pd.DataFrame({"sample_id": ids[cases], "icd10": code}))
        truth.append(
            {
                "icd10": code,
                "phecodes": phe.loc[code, "phecodes"],
                "modality": d["modality"] or "",
                "factor": d["factor"] if d["factor"] is not None else "",
                "log_odds_ratio": float(d["log_odds_ratio"]),
                "prevalence": float(d["prevalence"]),
                "intercept": a,
                "age_log_odds_ratio": age_effect,
                "n_cases": int(cases.sum()),
            }
        )
    for b in background:
        eligible = _eligible(phe.loc[b["icd10"], "sexes"], sex)
        cases = eligible & (rng.random(n) < float(b["prevalence"]))
        rows.append(pd.DataFrame({"sample_id": ids[cases], "icd10": b["icd10"]}))
    order = pd.Series(np.arange(n), index=ids)
    diag = pd.concat(rows, ignore_index=True).drop_duplicates()
    diag = diag.assign(_o=order.loc[diag["sample_id"]].to_numpy())
    diag = diag.sort_values(["_o", "icd10"], kind="stable").drop(columns="_o")
    return diag.reset_index(drop=True), pd.DataFrame(truth)


def _eligible(sexes: str, sex: np.ndarray) -> np.ndarray:
    """Who can get a code: everyone, or one sex when all its phecodes are sex-specific."""
    allowed = set(sexes.split(";"))
    if allowed == {"Female"}:
        return sex == "F"
    if allowed == {"Male"}:
        return sex == "M"
    return np.ones(len(sex), dtype=bool)

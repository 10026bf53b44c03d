"""The synthetic biobank: orchestrates genotypes, people, factors, diagnoses and renderers.

`simulate(cfg, seed, out_dir)` writes a cohort in the same formats as a real one (PLINK per
chromosome, samples/diagnoses tables, per-modality manifests) plus truth tables of everything
planted, so each association the workflow reports can be checked. `regwas simulate` runs it."""

from __future__ import annotations

import copy
import importlib
import json
import logging
import numbers
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.atomic import atomic_dir
from regwas.io.tables import write_tsv
from regwas.simulate import genotypes as gt
from regwas.simulate import phenotypes as ph

log = logging.getLogger(__name__)


# Fixed component numbers: a component's seed depends only on the master seed and this number.
_COMPONENTS = {
    "genotypes": 1,
    "order": 2,
    "people": 3,
    "causal": 4,
    "factors": 5,
    "diseases": 6,
    "relatives": 7,
}


def component_seed(seed: int, component: str) -> np.random.SeedSequence:
    """Seed sequence of one component (or renderer), derived from the master seed by name."""
    key = _COMPONENTS.get(component, zlib.crc32(component.encode()) + 100)
    return np.random.SeedSequence([int(seed), key])


def _number(
    value: object, key: str, lo: float, hi: float, integer: bool = False, lo_open: bool = False
) -> None:
    ok_type = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(
        value, bool
    )
    if not ok_type:
        kind = "an integer" if integer else "a number"
        raise InputError(f"{key}: must be {kind}, got {value!r}")
    if not (lo < value if lo_open else lo <= value) or not value <= hi or value != value:
        left = "(" if lo_open else "["
        raise InputError(f"{key}: {value!r} is outside the allowed range {left}{lo}, {hi}]")


def resolve_config(cfg: dict | None) -> dict:
    """The simulate section validated by ``section`` (defaults, types and ranges from the schema,
    the renderers' sections ecg and brain included, so the recorded config is complete and a bad
    renderer key stops the run before the genotypes are simulated), plus the checks JSON schema
    cannot express (they relate several keys or entries); InputError names the bad key."""
    c = section("simulate", cfg)
    for m in c["modalities"]:
        c.setdefault(m, {})

    # cross-key checks
    p = c["people"]
    if not p["age_min"] < p["age_max"]:
        raise InputError("simulate.people.age_min: must be below simulate.people.age_max")
    pops = c["genotypes"]["populations"]
    if abs(sum(pops.values()) - 1.0) > 1e-6:
        raise InputError(
            f"simulate.genotypes.populations: proportions sum to {sum(pops.values())}, not 1"
        )
    f = c["factors"]
    systematic = (
        f["causal_per_factor"] * f["variance_per_variant"]
        + f["ancestry_shift"] ** 2
        + f["age_effect"] ** 2
        + f["sex_effect"] ** 2
        + f["bmi_effect"] ** 2
    )
    if systematic > 0.9:
        raise InputError(
            f"simulate.factors.variance_per_variant: causal_per_factor x variance_per_variant + "
            f"squared covariate and ancestry effects = {systematic:.3f}; must stay below 0.9"
        )
    _check_diseases(c)
    return c


def _check_diseases(c: dict) -> None:
    """Checks of simulate.diseases and simulate.background_codes across entries and keys (each
    entry's keys, types and ranges are checked by the schema) and against the phecode map."""
    seen: set[str] = set()
    for i, d in enumerate(c["diseases"]):
        where = f"simulate.diseases[{i}]"
        if d["icd10"] in seen:
            raise InputError(f"{where}.icd10: code {d['icd10']} listed twice")
        seen.add(d["icd10"])
        if (d["modality"] is None) != (d["factor"] is None):
            raise InputError(f"{where}: modality and factor must both be set or both be null")
        if d["modality"] is None and d["log_odds_ratio"] != 0:
            raise InputError(f"{where}.log_odds_ratio: must be 0 for a code with no factor")
    for i, b in enumerate(c["background_codes"]):
        if b["icd10"] in seen:
            raise InputError(
                f"simulate.background_codes[{i}].icd10: code {b['icd10']} is also a disease code"
            )
    ph.check_codes([d["icd10"] for d in c["diseases"]], "simulate.diseases")
    ph.check_codes([b["icd10"] for b in c["background_codes"]], "simulate.background_codes")


def _renderer(modality: str):
    """The renderer module regwas.simulate.{modality}, or None when it does not exist."""
    name = f"regwas.simulate.{modality}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        return None


def factor_names(cfg: dict) -> dict[str, list[str]]:
    """Factor names per simulated modality: simulate.factors.names, else the renderer's FACTORS."""
    out = {}
    for m in cfg["modalities"]:
        module = _renderer(m)
        own = list(getattr(module, "FACTORS", ())) if module is not None else None
        override = cfg["factors"]["names"].get(m)
        if cfg["render"] and (module is None or not hasattr(module, f"render_{m}")):
            raise InputError(
                f"simulate.modalities: no renderer regwas.simulate.{m}.render_{m} for '{m}'"
            )
        if override is not None:
            if cfg["render"] and own and list(override) != own:
                raise InputError(
                    f"simulate.factors.names.{m}: the renderer needs factors {own}, got {override}"
                )
            out[m] = list(override)
        elif own:
            out[m] = own
        else:
            raise InputError(
                f"simulate.factors.names.{m}: no factor names for '{m}' (no renderer module "
                f"regwas.simulate.{m} with FACTORS)"
            )
    return out


def _resolve_diseases(cfg: dict, names: dict[str, list[str]]) -> list[dict]:
    """Disease entries with factor names resolved; codes of unsimulated modalities dropped."""
    out = []
    for i, d in enumerate(cfg["diseases"]):
        d = dict(d)
        m = d["modality"]
        if m is not None and m not in names:
            log.warning("diseases[%d] %s: modality %s is not simulated; skipped", i, d["icd10"], m)
            continue
        if m is not None:
            fac = d["factor"]
            if isinstance(fac, int):
                if not 0 <= fac < len(names[m]):
                    raise InputError(
                        f"simulate.diseases[{i}].factor: index {fac} out of range for the "
                        f"{len(names[m])} {m} factors {names[m]}"
                    )
                d["factor"] = names[m][fac]
            elif fac not in names[m]:
                raise InputError(
                    f"simulate.diseases[{i}].factor: '{fac}' is not a {m} factor ({names[m]})"
                )
        out.append(d)
    return out


def share_factors(
    factors: pd.DataFrame, causal: pd.DataFrame, cfg: dict, names: dict[str, list[str]]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Mix factors that a renderer section says are shared with another modality's factor.

    For ``simulate.{m}.shared_factors = {own: "partner_modality.partner"}`` with correlation
    r = ``simulate.{m}.shared_correlation``: own := (r x partner + sqrt(1 - r^2) x own),
    restandardised. The own causal variants' effects shrink accordingly and the partner's
    causal variants are added to the causal table for the own factor (their effects scaled by
    r), so the truth stays exact. Pairs whose partner modality is not simulated are skipped.
    Returns (factors, causal, shared table: modality, factor, partner, correlation)."""
    factors = factors.copy()
    extra, rows = [], []
    for m in names:
        pairs = (cfg.get(m) or {}).get("shared_factors") or {}
        r = float((cfg.get(m) or {}).get("shared_correlation", 0.0))
        for own, partner in pairs.items():
            pm, pf = partner.split(".", 1)
            if own not in names[m]:
                raise InputError(f"simulate.{m}.shared_factors: '{own}' is not a {m} factor")
            if pm not in names:
                continue
            if pf not in names[pm]:
                raise InputError(
                    f"simulate.{m}.shared_factors.{own}: '{pf}' is not a {pm} factor {names[pm]}"
                )
            mixed = r * factors[partner].to_numpy() + np.sqrt(1 - r * r) * factors[f"{m}.{own}"]
            sd = float(mixed.std())
            factors[f"{m}.{own}"] = (mixed - mixed.mean()) / sd
            sel = (causal["modality"] == m) & (causal["factor"] == own)
            causal.loc[sel, "effect"] *= np.sqrt(1 - r * r) / sd
            causal.loc[sel, "variance_explained"] *= (1 - r * r) / sd**2
            inherited = causal[(causal["modality"] == pm) & (causal["factor"] == pf)].copy()
            inherited["modality"], inherited["factor"] = m, own
            inherited["effect"] *= r / sd
            inherited["variance_explained"] *= r * r / sd**2
            extra.append(inherited)
            rows.append({"modality": m, "factor": own, "partner": partner, "correlation": r})
    if extra:
        causal = pd.concat([causal, *extra], ignore_index=True)
    shared = pd.DataFrame(rows, columns=["modality", "factor", "partner", "correlation"])
    return factors, causal, shared


def sample_ids(n: int) -> list[str]:
    """Sample ids S000001.. (zero-padded to at least 6 digits)."""
    width = max(6, len(str(n)))
    return [f"S{i:0{width}d}" for i in range(1, n + 1)]


def _render(
    modality: str,
    people: pd.DataFrame,
    factors: pd.DataFrame,
    cfg: dict,
    seed: int,
    root: Path,
    threads: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Call render_{modality}; return (manifest: sample_id + path columns, phenotype columns)."""
    module = _renderer(modality)
    render = getattr(module, f"render_{modality}")
    cols = [c for c in factors.columns if c.startswith(f"{modality}.")]
    fac = factors[cols].rename(columns=lambda c: c.split(".", 1)[1])
    rseed = int(component_seed(seed, modality).generate_state(1)[0])
    log.info("rendering %s for %d people", modality, len(people))
    out = render(people.copy(), fac, copy.deepcopy(cfg[modality]), rseed, root, threads=threads)
    if "sample_id" not in out.columns or set(out["sample_id"]) != set(people["sample_id"]):
        raise RuntimeError(f"render_{modality} did not return one row per sample_id")
    out = out.set_index("sample_id").loc[people["sample_id"]].reset_index()
    path_cols = [c for c in out.columns if c == "path" or c.endswith("_path")]
    manifest = out[["sample_id", *path_cols]].copy()
    for c in path_cols:
        manifest[c] = [_relative(p, root) for p in manifest[c]]
        # a WFDB record path names the record without its .hea/.dat extension
        missing = [
            p for p in manifest[c] if not ((root / p).exists() or (root / f"{p}.hea").exists())
        ]
        if missing:
            raise RuntimeError(
                f"render_{modality}: {len(missing)} {c} files missing: {missing[:3]}"
            )
    pheno = out.drop(columns=path_cols)
    return manifest, pheno


def _relative(p: object, root: Path) -> str:
    path = Path(str(p))
    if path.is_absolute():
        path = path.resolve().relative_to(root.resolve())
    return path.as_posix()


def simulate(
    cfg: dict | None, seed: int, out_dir: str | Path, threads: int = 1, force: bool = False
) -> Path:
    """Simulate the synthetic biobank into ``out_dir`` (replaced atomically on success).

    An existing ``out_dir`` is replaced only if it is empty or a previous regwas output with
    nothing added (``force`` replaces any folder but the working directory); otherwise
    InputError before anything is simulated (``regwas.io.atomic.atomic_dir``).

    Same ``cfg`` and ``seed`` give byte-identical files whatever ``threads`` is.
    """
    c = resolve_config(cfg)
    _number(seed, "seed", 0, 2**63 - 1, integer=True)
    _number(threads, "threads", 1, 4096, integer=True)
    names = factor_names(c)
    diseases = _resolve_diseases(c, names)
    n = int(c["n_samples"])
    ids = sample_ids(n)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, force=force) as tmp:
        people = ph.simulate_people(
            n, c["people"], c["sites"], np.random.default_rng(component_seed(seed, "people")), ids
        )
        sizes = gt.population_sizes(c["genotypes"]["populations"], n)
        order = np.random.default_rng(component_seed(seed, "order")).permutation(n)
        population = gt.individual_populations(sizes)[order]
        pop_names = np.array(list(sizes))
        if float(c["site_ancestry"]) > 0:
            people["site"] = ph.ancestry_sites(
                population,
                int(c["sites"]),
                float(c["site_ancestry"]),
                np.random.default_rng(component_seed(seed, "site_ancestry")),
            )
        rel = c["relatives"]
        plan = None
        if any(rel[k] for k in ("trios", "parent_offspring", "full_siblings", "duplicates")):
            plan = gt.plan_relatives(
                rel, sizes, np.random.default_rng(component_seed(seed, "relatives"))
            )
        sex_code = np.where(people["sex"].to_numpy() == "F", 2, 1)
        log.info(
            "simulating genotypes of %d people on %d chromosomes%s",
            n,
            c["genotypes"]["n_chromosomes"],
            " and X" if c["genotypes"]["chrx"] else "",
        )
        results = gt.simulate_genotypes(
            c["genotypes"],
            n,
            component_seed(seed, "genotypes"),
            order,
            ids,
            sex_code,
            tmp / "genotypes",
            threads=threads,
            relatives=plan,
        )
        variants = pd.concat(
            [
                r.bim.assign(
                    chromosome=r.chromosome,
                    index=np.arange(len(r.bim)),
                    maf=np.minimum(r.alt_count, r.n_alleles - r.alt_count) / r.n_alleles,
                    alt_frequency=r.alt_count / r.n_alleles,
                    min_population_maf=r.min_population_maf,
                )
                for r in results
            ],
            ignore_index=True,
        )
        factor_keys = [(m, f) for m in names for f in names[m]]
        # causal variants are autosomal: chromosome X (when simulated) carries none, so adding
        # it changes neither the planted truth nor the factors
        causal = ph.select_causal_variants(
            variants[variants["chromosome"] != gt.X_CHROMOSOME]
            .reset_index(drop=True)
            .astype({"chromosome": np.int64}),
            factor_keys,
            c["factors"],
            np.random.default_rng(component_seed(seed, "causal")),
        )
        dosages = np.zeros((n, len(causal)))
        for chrom, rows in causal.groupby("chromosome", sort=True).groups.items():
            pos = causal.index.get_indexer(rows)
            dosages[:, pos] = gt.read_dosages(
                tmp / "genotypes" / f"chr{chrom}", causal.loc[rows, "index"].to_numpy()
            )
        factors, causal = ph.simulate_factors(
            people,
            population,
            causal,
            dosages,
            factor_keys,
            c["factors"],
            np.random.default_rng(component_seed(seed, "factors")),
        )
        factors, causal, shared = share_factors(factors, causal, c, names)
        diag, disease_truth = ph.simulate_diagnoses(
            people,
            factors,
            diseases,
            c["background_codes"],
            float(c["disease_age_effect"]),
            np.random.default_rng(component_seed(seed, "diseases")),
        )
        samples = people.copy()
        if c["render"]:
            for m in c["modalities"]:
                manifest, pheno = _render(m, people, factors, c, seed, tmp, threads)
                clash = [x for x in pheno.columns if x != "sample_id" and x in samples.columns]
                pheno = pheno.rename(columns={x: f"{m}_{x}" for x in clash})
                samples = samples.merge(pheno, on="sample_id", how="left", validate="1:1")
                write_tsv(manifest, tmp / f"{m}.manifest.tsv")

        write_tsv(samples, tmp / "samples.tsv")
        write_tsv(diag, tmp / "diagnoses.tsv")
        truth = tmp / "truth"
        causal_out = causal.rename(columns={"alt": "effect_allele", "ref": "other_allele"})
        causal_out["effect_allele_frequency"] = causal_out["alt_frequency"]
        write_tsv(
            causal_out[
                [
                    "modality",
                    "factor",
                    "variant_id",
                    "chromosome",
                    "position",
                    "effect_allele",
                    "other_allele",
                    "effect_allele_frequency",
                    "effect",
                    "variance_explained",
                ]
            ],
            truth / "causal_variants.tsv",
            float_format="%.8g",
        )
        write_tsv(factors.reset_index(), truth / "factors.tsv", float_format="%.8g")
        if len(shared):
            write_tsv(shared, truth / "shared_factors.tsv", float_format="%.8g")
        write_tsv(
            pd.DataFrame({"sample_id": ids, "population": pop_names[population]}),
            truth / "ancestry.tsv",
        )
        write_tsv(disease_truth, truth / "disease_effects.tsv", float_format="%.8g")
        if plan is not None:
            write_tsv(relatives_table(plan, order, ids), truth / "relatives.tsv")
        _write_json(
            truth / "simulation.json",
            {
                "seed": int(seed),
                "config": c,
                "factors": names,
                "population_sizes": sizes,
                "n_variants": {str(r.chromosome): len(r.bim) for r in results},
                "msprime_version": _version("msprime"),
            },
        )
    log.info("synthetic biobank written to %s (%d variants)", out_dir, len(variants))
    return out_dir


def relatives_table(plan: gt.RelativesPlan, order: np.ndarray, ids: list[str]) -> pd.DataFrame:
    """The planted relative pairs by sample id (sample_id_1 before sample_id_2 in the .fam):
    relationship and expected kinship."""
    position = np.argsort(order)  # msprime individual -> cohort (.fam) position
    rows = []
    for a, b, kind in plan.pairs:
        i, j = sorted((int(position[a]), int(position[b])))
        rows.append(
            {
                "sample_id_1": ids[i],
                "sample_id_2": ids[j],
                "relationship": kind,
                "expected_kinship": gt.RELATIONSHIPS[kind],
            }
        )
    return pd.DataFrame(
        rows, columns=["sample_id_1", "sample_id_2", "relationship", "expected_kinship"]
    )


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def load_simulate_config(path: str | Path) -> tuple[dict, int]:
    """(simulate section, master seed) of a workflow config file."""
    try:
        from regwas.config.schema import load_config
    except ImportError:
        load_config = None
    if load_config is not None:
        config = load_config(path)
    else:  # pragma: no cover - before regwas.config exists
        import yaml

        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: config file does not exist")
        config = yaml.safe_load(path.read_text()) or {}
    seed = config.get("seed", 0)
    _number(seed, f"{path}: seed", 0, 2**63 - 1, integer=True)
    return config.get("simulate") or {}, int(seed)

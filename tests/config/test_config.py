"""Config validation: typos are named, defaults filled, the same schema serves snakemake."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from regwas.config.schema import defaults, load_config, section, validate_config
from regwas.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


def test_demo_and_test_configs_validate():
    for name in ("config.yaml", "test.yaml"):
        cfg = load_config(ROOT / "config" / name)
        assert cfg["represent"]["method"] == "pca"
        assert cfg["gwas"]["p_threshold"] == pytest.approx(5e-8)


def test_typo_is_named_with_its_path(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"seed": 1, "represent": {"latent_dm": 4}}))
    with pytest.raises(InputError, match=r"unknown key 'represent\.latent_dm'") as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_bad_value_names_key_and_problem():
    with pytest.raises(InputError, match=r"represent\.latent_dim.*minimum"):
        validate_config({"represent": {"latent_dim": 0}})
    with pytest.raises(InputError, match=r"'cohort'.*simulate"):
        validate_config({"cohort": "simulated"})


def test_defaults_filled_in_nested_sections():
    cfg = validate_config({})
    assert cfg["represent"]["latent_dim"] == 16
    assert cfg["spaces"]["ecg"] == ["native", "median_beat"]
    assert cfg["gwas"]["clump"]["window_kb"] == 500 and "compare" not in cfg


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(bad)


def test_snakemake_validate_uses_the_same_schema():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    cfg = {"represent": {"latent_dim": 4}}
    validate(cfg, schema)
    assert cfg["seed"] == 20261121  # snakemake filled the default
    with pytest.raises(WorkflowError, match="latent_dm"):
        validate({"represent": {"latent_dm": 4}}, schema)


# ------------------------------------------------------------------ section(): one mechanism


def _schema_node(filled: dict, name: str):
    for part in name.split("."):
        filled = filled[part]
    return filled


def _object_sections(node: dict, path: str = ""):
    """Dotted names of every object section of the schema (e.g. "gwas", "gwas.clump")."""
    for key, sub in (node.get("properties") or {}).items():
        dotted = f"{path}.{key}" if path else key
        if sub.get("properties"):
            yield dotted
            yield from _object_sections(sub, dotted)


SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


@pytest.mark.parametrize("name", sorted(_object_sections(SCHEMA)))
def test_section_fills_the_schema_defaults_and_names_a_typo(name):
    """section(name) gives what the workflow's validation gives, and names a typo by path."""
    assert section(name) == _schema_node(validate_config({}), name)
    assert defaults(name) == section(name)
    with pytest.raises(InputError, match=rf"unknown key '{re.escape(name)}\.typo_key'"):
        section(name, {"typo_key": 1})


def test_section_keeps_values_and_does_not_mutate():
    values = {"clump": {"r2": 0.2}, "phecodes": ("250", "401")}  # a tuple is an array
    out = section("phewas", {"phecodes": values["phecodes"]})
    assert out["phecodes"] == ("250", "401") and out["min_cases"] == 20
    out = section("gwas", {"clump": values["clump"]})
    assert out["clump"] == {"method": "distance", "window_kb": 500, "r2": 0.2}
    assert out["min_maf"] == 0.01
    assert values == {"clump": {"r2": 0.2}, "phecodes": ("250", "401")}
    assert defaults("seed") == 20261121 and defaults("gwas.clump.r2") == 0.1


def test_section_rejects_bad_values_by_dotted_name():
    with pytest.raises(InputError, match=r"key 'gwas\.clump\.r2': 1\.5 is greater"):
        section("gwas", {"clump": {"r2": 1.5}})
    with pytest.raises(InputError, match=r"key 'phewas\.phecodes': '250' is not of type"):
        section("phewas", {"phecodes": "250"})
    for bad in (float("nan"), float("inf")):  # a number is finite: no range lets these through
        with pytest.raises(InputError, match=r"key 'simulate\.brain\.scale_sex'"):
            section("simulate.brain", {"scale_sex": bad})
    with pytest.raises(InputError, match=r"key 'plots': must be a mapping"):
        section("plots", ["dpi", 72])
    with pytest.raises(ValueError, match="no section 'gwass'"):
        section("gwass")


def test_represent_baseline_is_a_second_method(tmp_path):
    """represent.baseline names the other method or none; the same method as represent.method
    is one line naming both keys, in the whole config and in the section alike."""
    assert validate_config({})["represent"]["baseline"] is None
    cfg = validate_config({"represent": {"method": "autoencoder", "baseline": "pca"}})
    assert (cfg["represent"]["method"], cfg["represent"]["baseline"]) == ("autoencoder", "pca")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"represent": {"method": "pca", "baseline": "pca"}}))
    with pytest.raises(InputError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "represent.baseline is 'pca', the same as represent.method" in message
    with pytest.raises(InputError, match="the same as represent.method"):
        section("represent", {"baseline": "pca"})  # method defaults to pca
    with pytest.raises(InputError, match=r"key 'represent\.baseline'"):
        validate_config({"represent": {"baseline": "vae"}})


# ------------------------------------------------------------------ every stage uses it

IDS = np.array(["S1", "S2", "S3"])
Z = np.arange(6.0).reshape(3, 2)
SAMPLES = pd.DataFrame({"sample_id": IDS, "age": [50.0, 60.0, 70.0]})
DIAGNOSES = pd.DataFrame({"sample_id": ["S1"], "icd10": ["I10"]})
GWAS = pd.DataFrame(
    {"chromosome": ["1"], "base_pair_location": [1], "variant_id": ["v"], "neg_log10_p": [1.0]}
)
PEOPLE = pd.DataFrame({"sample_id": IDS, "age": [50.0] * 3, "sex": ["F"] * 3, "site": ["a"] * 3})


def _entry_points():
    """(section, module whose ``section`` the entry point calls, call(cfg, tmp_path))."""
    from regwas.adjust import adjust_embeddings
    from regwas.associate import gwas, probes
    from regwas.associate.phewas import phewas
    from regwas.cohort import prepare_cohort
    from regwas.plots import manhattan_figure, phewas_qq_figure, qq_figure
    from regwas.register import ecg
    from regwas.represent.base import embed_store
    from regwas.simulate import brain
    from regwas.simulate import ecg as simulate_ecg
    from regwas.simulate.cohort import simulate

    return [
        ("represent", "regwas.represent.base", lambda c, t: embed_store(t, t / "e.parquet", c, 0)),
        ("adjust", "regwas.adjust.confounders", lambda c, t: adjust_embeddings(IDS, Z, SAMPLES, c)),
        (
            "gwas",
            "regwas.associate.gwas.shards",
            lambda c, t: gwas.gwas_chromosome(t / "e.parquet", t / "chr1", t / "o.parquet", c),
        ),
        ("gwas", "regwas.associate.gwas.merge", lambda c, t: gwas.merge_shards([], t / "o", c)),
        (
            "gwas",
            "regwas.associate.gwas.clump",
            lambda c, t: gwas.lead_variants(GWAS, c, None, t / "e.parquet", t / "leads.tsv"),
        ),
        (
            "phewas",
            "regwas.associate.phewas.association",
            lambda c, t: phewas(IDS, Z, SAMPLES, DIAGNOSES, c),
        ),
        (
            "probes",
            "regwas.associate.probes",
            lambda c, t: probes.probe_embeddings(IDS, Z, SAMPLES, c),
        ),
        ("plots", "regwas.plots.manhattan_miami", lambda c, t: manhattan_figure(GWAS, config=c)),
        ("plots", "regwas.plots.qq_plot", lambda c, t: qq_figure(GWAS, config=c)),
        ("plots", "regwas.plots.phewas", lambda c, t: phewas_qq_figure(t / "p.tsv", config=c)),
        ("cohort_qc", "regwas.cohort.prepare", lambda c, t: prepare_cohort({}, [1], c, t, 0)),
        (
            "ecg.median_beat",
            "regwas.register.ecg.beats",
            lambda c, t: ecg.median_beat(np.zeros((12, 5000)), 500.0, c),
        ),
        (
            "ecg.median_beat",
            "regwas.register.ecg.stores",
            lambda c, t: ecg.build_median_beat(pd.DataFrame(), t, c, t / "out"),
        ),
        ("simulate", "regwas.simulate.cohort", lambda c, t: simulate(c, 1, t / "out")),
        (
            "simulate.ecg",
            "regwas.simulate.ecg",
            lambda c, t: simulate_ecg.render_ecg(PEOPLE, pd.DataFrame(), c, 0, t),
        ),
        (
            "simulate.brain",
            "regwas.simulate.brain",
            lambda c, t: brain.render_brain(PEOPLE, pd.DataFrame(), c, 0, t),
        ),
    ]


ENTRY_POINTS = [
    pytest.param(i, id=f"{module.rsplit('.', 1)[1]}-{name}")
    for i, (name, module, _) in enumerate(_entry_points())
]


class _Stop(Exception):
    pass


@pytest.mark.parametrize("index", ENTRY_POINTS)
def test_every_stage_rejects_a_typo_and_fills_the_schema_defaults(index, tmp_path, monkeypatch):
    """Called outside the validated workflow (CLI, library), each stage's public entry point
    names a typo in its section by its dotted path and runs on the schema's defaults."""
    import importlib

    name, module, call = _entry_points()[index]
    with pytest.raises(InputError, match=rf"unknown key '{re.escape(name)}\.typo_key'"):
        call({"typo_key": 1}, tmp_path)
    assert list(tmp_path.iterdir()) == []

    seen = []

    def spy(section_name, values=None, source="config"):
        seen.append((section_name, section(section_name, values, source)))
        raise _Stop

    monkeypatch.setattr(importlib.import_module(module), "section", spy)
    with pytest.raises(_Stop):
        call({}, tmp_path)
    assert seen == [(name, _schema_node(validate_config({}), name))]


@pytest.mark.parametrize(
    "name,cfg",
    [
        ("gwas.clump", {"clump": {"typo_key": 1}}),
        ("simulate.people", {"people": {"typo_key": 1}}),
        ("simulate.genotypes", {"genotypes": {"typo_key": 1}}),
        ("simulate.factors", {"factors": {"typo_key": 1}}),
        ("simulate.ecg.morphology", {"ecg": {"morphology": {"typo_key": 1}}}),
        ("simulate.brain.deformation", {"brain": {"deformation": {"typo_key": 1}}}),
    ],
)
def test_nested_typos_are_named_by_the_stage(name, cfg, tmp_path):
    from regwas.associate import gwas
    from regwas.simulate.cohort import simulate

    with pytest.raises(InputError, match=rf"unknown key '{re.escape(name)}\.typo_key'"):
        if name.startswith("gwas"):
            gwas.merge_shards([], tmp_path / "o", cfg)
        else:
            simulate(cfg, 1, tmp_path / "out")


def test_cohort_qc_pca_typo_is_named(tmp_path):
    from regwas.cohort import prepare_cohort

    with pytest.raises(InputError, match=r"unknown key 'cohort_qc\.pca\.typo_key'"):
        prepare_cohort({}, [1], {"pca": {"typo_key": 1}}, tmp_path, 0)


def test_no_module_keeps_its_own_defaults_or_merge():
    """Defaults, types and ranges live in the schema only: no DEFAULTS twins, no merges."""
    twins = re.compile(
        r"^\w*DEFAULTS\w*\s*[:=]|merge_defaults|def merge_config|def _config\b", re.M
    )
    found = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "src" / "regwas").rglob("*.py"))
        if twins.search(path.read_text())
    ]
    assert found == []


# ------------------------------------------------------------------ the CLI's defaults

CLI_DEFAULTS = [
    ("adjust", "method", "adjust.method"),
    ("adjust", "r2_threshold", "adjust.r2_threshold"),
    ("adjust", "max_iterations", "adjust.max_iterations"),
    ("cohort", "n_pcs", "cohort_qc.pca.n_pcs"),
    ("cohort", "max_variants", "cohort_qc.pca.max_variants"),
    ("cohort", "prune", "cohort_qc.pca.prune"),
    ("embed", "latent_dim", "represent.latent_dim"),
    ("gwas", "model", "gwas.model"),
    ("gwas", "backend", "gwas.backend"),
    ("gwas", "precision", "gwas.precision"),
    ("gwas", "refine_above", "gwas.refine_above"),
    ("gwas", "min_maf", "gwas.min_maf"),
    ("gwas", "min_mac", "gwas.min_mac"),
    ("gwas", "min_call_rate", "gwas.min_call_rate"),
    ("gwas", "hwe_p", "gwas.hwe_p"),
    ("gwas", "block_size", "gwas.block_size"),
    ("gwas", "clump", "gwas.clump.method"),
    ("median-beat", "fs", "ecg.median_beat.fs"),
    ("median-beat", "length", "ecg.median_beat.length"),
    ("median-beat", "pre_r", "ecg.median_beat.pre_r"),
    ("phewas", "min_cases", "phewas.min_cases"),
    ("phewas", "exclusion", "phewas.exclusion"),
    ("probe", "folds", "probes.folds"),
]


def _subparser(command: str):
    from regwas.cli.entry import build_parser

    return build_parser(command)._subparsers._group_actions[0].choices[command]


@pytest.mark.parametrize("command,dest,key", CLI_DEFAULTS)
def test_cli_defaults_come_from_the_schema(command, dest, key):
    args = {a.dest: a for a in _subparser(command)._actions}
    assert args[dest].default == defaults(key)


def test_every_cli_seed_defaults_to_the_workflow_seed():
    from regwas.cli.entry import SUBCOMMANDS

    seeds = {}
    for command in SUBCOMMANDS:
        for action in _subparser(command)._actions:
            if action.dest == "seed":
                seeds[command] = action.default
    assert seeds.pop("simulate") is None  # --seed overrides the config file's seed
    assert seeds and set(seeds.values()) == {defaults("seed")}, seeds
    assert {"adjust", "cohort", "embed", "phewas", "probe"} <= set(seeds)


def test_cli_cohort_chromosomes_default_to_the_autosomes():
    """The schema has no chromosomes default (a simulated cohort's come from
    simulate.genotypes.n_chromosomes); for a real cohort the CLI, like the workflow, takes 1..22."""
    from regwas.genetics.chromosomes import parse_chromosomes

    args = {a.dest: a for a in _subparser("cohort")._actions}
    assert parse_chromosomes(args["chromosomes"].default) == [str(c) for c in range(1, 23)]


def test_cli_plot_threshold_from_the_schema():
    kinds = next(a for a in _subparser("plot")._actions if a.dest == "plot_kind").choices
    for kind in ("manhattan", "miami", "qq"):
        threshold = next(a for a in kinds[kind]._actions if a.dest == "threshold")
        assert threshold.default == defaults("gwas.p_threshold")


def test_config_readme_documents_every_key():
    """config/README.md holds the reference generated from the schema, and it is current."""
    from regwas.config.reference import REFERENCE_BEGIN, REFERENCE_END, reference_markdown

    text = (ROOT / "config" / "README.md").read_text()
    block = text[text.index(REFERENCE_BEGIN) + len(REFERENCE_BEGIN) : text.index(REFERENCE_END)]
    assert block.strip() == reference_markdown().strip(), "run: python -m regwas.config"
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())

    def keys(node, path=""):
        for key, sub in (node.get("properties") or {}).items():
            dotted = f"{path}.{key}" if path else key
            assert sub.get("description"), f"{dotted} has no description in the schema"
            yield dotted
            yield from keys(sub, dotted)

    for dotted in keys(schema):
        assert f"| `{dotted}` |" in block


def test_one_significance_threshold():
    """gwas.p_threshold is the only threshold key: compare and plots have none of their own."""
    assert "p_threshold" not in defaults("gwas.clump")
    assert "threshold" not in defaults("plots")

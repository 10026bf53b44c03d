"""Config validation: typos are named, defaults filled, the same schema serves snakemake."""

from pathlib import Path

import pytest
import yaml

from regwas.config.schema import load_config, merge_defaults, validate_config
from regwas.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


def test_demo_and_test_configs_validate():
    for name in ("config.yaml", "test.yaml"):
        cfg = load_config(ROOT / "config" / name)
        assert cfg["represent"]["method"] == "pca"
        assert cfg["compare"]["p_threshold"] == pytest.approx(5e-8)


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
    assert cfg["compare"]["window_kb"] == 250


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


def test_merge_defaults_is_recursive_and_does_not_mutate():
    defaults = {"a": 1, "b": {"c": 2, "d": 3}}
    out = merge_defaults(defaults, {"b": {"c": 5}})
    assert out == {"a": 1, "b": {"c": 5, "d": 3}}
    assert defaults["b"]["c"] == 2


SECTIONS = {}


@pytest.mark.parametrize("section,module", sorted(SECTIONS.items()))
def test_schema_defaults_equal_module_defaults(section, module):
    """The schema (what config/README.md documents) and the library agree on every default."""
    import importlib

    defaults = importlib.import_module(module).DEFAULTS
    filled = validate_config({})
    node = filled
    for part in section.split("."):
        node = node[part]
    assert node == defaults


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


def test_merge_defaults_names_unknown_keys_when_given_a_section():
    defaults = {"a": 1, "b": {"c": 2}}
    with pytest.raises(InputError, match=r"config sec\.zz: unknown key 'zz' \(allowed: a, b\)"):
        merge_defaults(defaults, {"zz": 1}, "sec")
    with pytest.raises(InputError, match=r"config sec\.b\.d: unknown key 'd'"):
        merge_defaults(defaults, {"b": {"d": 1}}, "sec")
    with pytest.raises(InputError, match=r"config sec\.b: must be a mapping"):
        merge_defaults(defaults, {"b": 3}, "sec")
    assert merge_defaults(defaults, {"zz": 1}) == {"a": 1, "b": {"c": 2}, "zz": 1}


CONFIG_ENTRY_POINTS = {}


@pytest.mark.parametrize("section", sorted(CONFIG_ENTRY_POINTS))
def test_every_module_names_a_typo_in_its_section(section):
    """Called outside the validated workflow (CLI, library), each module's own config function
    rejects an unknown key by its dotted name, as the schema does inside the workflow."""
    import importlib

    module, function = CONFIG_ENTRY_POINTS[section]
    merge = getattr(importlib.import_module(module), function)
    with pytest.raises(InputError, match=rf"{section.replace('.', '[.]')}[.]typo_key: unknown"):
        merge({"typo_key": 1})

"""Workflow config: load YAML, validate against the JSON schema, fill in defaults.

The same schema (src/regwas/schemas/config.schema.yaml, also reachable as
workflow/schemas/config.schema.yaml) serves snakemake's ``validate`` in the Snakefile and
the ``regwas`` CLI, so a typo in a key is reported by name in both."""

from __future__ import annotations

import copy
import functools
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from regwas.errors import InputError

SCHEMA_DIR = Path(__file__).parents[1] / "schemas"


def load_schema(name: str) -> dict:
    """A fresh copy of src/regwas/schemas/{name}.schema.yaml (config, samples, ...)."""
    return copy.deepcopy(_load_schema_cached(name))


@functools.cache
def _load_schema_cached(name: str) -> dict:
    path = SCHEMA_DIR / f"{name}.schema.yaml"
    if not path.exists():
        known = sorted(p.name.split(".")[0] for p in SCHEMA_DIR.glob("*.schema.yaml"))
        raise ValueError(f"unknown schema {name!r}; expected one of {known}")
    with open(path) as fh:
        return yaml.safe_load(fh)


@functools.cache
def _validator_with_defaults():
    """A Draft 2020-12 validator class that fills in ``default`` values while validating
    (built once: it holds no state)."""
    from jsonschema import Draft202012Validator, validators

    base_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from base_properties(validator, properties, instance, schema)

    base = Draft202012Validator.TYPE_CHECKER

    def finite_number(checker, instance) -> bool:
        return base.is_type(instance, "number") and (
            isinstance(instance, int) or math.isfinite(instance)
        )

    # library callers may pass tuples where the YAML has lists (e.g. covariates); a number is
    # finite (YAML's .nan and .inf would slip past every range)
    checker = base.redefine_many(
        {
            "array": lambda _checker, instance: isinstance(instance, list | tuple),
            "number": finite_number,
        }
    )
    return validators.extend(
        Draft202012Validator, {"properties": set_defaults}, type_checker=checker
    )


def _where(error, where: str = "") -> str:
    path = ".".join([where] * bool(where) + [str(p) for p in error.absolute_path])
    return path or "(top level)"


def _describe(error, where: str = "") -> list[str]:
    """One line per problem, naming the dotted key; unknown keys (typos) are named directly."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        prefix = _where(error, where) + "." if error.absolute_path or where else ""
        return [
            f"  unknown key '{prefix}{key}' (allowed: {', '.join(sorted(known))})"
            for key in error.instance
            if key not in known
        ]
    return [f"  key '{_where(error, where)}': {error.message}"]


def _validate(instance: object, schema: dict, where: str, source: str) -> None:
    """Fill defaults into ``instance`` and raise InputError naming every bad key under ``where``."""
    validator = _validator_with_defaults()(schema)
    # defaults first (a sub-object's defaults appear only once the parent exists)
    for _ in range(4):
        list(validator.iter_errors(instance))
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]
    )
    if errors:
        lines = [line for e in errors for line in _describe(e, where)][:20]
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise InputError(f"{source}: invalid configuration\n" + "\n".join(lines) + more)


def _check_represent(values: Mapping, source: str) -> None:
    """represent.baseline is a second method beside represent.method, never the same one."""
    baseline = values.get("baseline")
    if baseline is not None and baseline == values.get("method"):
        other = "autoencoder" if baseline == "pca" else "pca"
        raise InputError(
            f"{source}: represent.baseline is {baseline!r}, the same as represent.method: the "
            f"baseline is a second method run beside it ({other}), or null for none"
        )


# checks across keys of one section, which the JSON schema cannot express
_CROSS_CHECKS = {"represent": _check_represent}


@functools.cache
def _section_node(name: str) -> dict:
    """The cached (shared, read-only) schema node of the dotted section ``name``."""
    node = _load_schema_cached("config")
    for part in name.split("."):
        try:
            node = node["properties"][part]
        except KeyError:
            raise ValueError(f"config.schema.yaml has no section {name!r}") from None
    return node


def section_schema(name: str) -> dict:
    """The part of config.schema.yaml for the dotted section ``name`` (e.g. "gwas.clump")."""
    return copy.deepcopy(_section_node(name))


def section(name: str, values: dict | None = None, source: str = "config") -> dict:
    """The config section ``name`` validated against its part of config.schema.yaml.

    The one config mechanism of every stage, for the workflow and the CLI alike: defaults,
    types and ranges all come from the schema. ``values`` is not modified; the result is a
    new dict with every default filled in. A bad key raises InputError naming ``name.key``.
    """
    if values is not None and not isinstance(values, Mapping):
        raise InputError(
            f"{source}: invalid configuration\n  key '{name}': must be a mapping, got {values!r}"
        )
    instance = copy.deepcopy(dict(values or {}))
    # the cached schema node is only read (defaults are copied into the instance), so it is
    # not copied per call: stages may validate their section once per record
    _validate(instance, _section_node(name), name, source)
    if name in _CROSS_CHECKS:
        _CROSS_CHECKS[name](instance, source)
    return instance


def defaults(name: str) -> dict | object:
    """The schema defaults of a section or key (``section(name)`` with nothing set)."""
    node = _section_node(name)
    if node.get("type") == "object" or "properties" in node:
        return section(name)
    return copy.deepcopy(node.get("default"))


def validate_config(config: dict, source: str = "config") -> dict:
    """Validate ``config`` in place (defaults filled in) and return it.

    Raises InputError naming every bad key: unknown keys (typos), wrong types, values out of
    range, with the dotted path of the key.
    """
    _validate(config, load_schema("config"), "", source)
    for name, check in _CROSS_CHECKS.items():
        check(config[name], source)
    return config


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML config file, validate it and fill in defaults."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: config file does not exist")
    try:
        with open(path) as fh:
            config = yaml.safe_load(fh) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(config, dict):
        raise InputError(f"{path}: the config must be a mapping of keys to values")
    return validate_config(config, source=str(path))

"""Workflow config: load YAML, validate against the JSON schema, fill in defaults.

The same schema (src/regwas/schemas/config.schema.yaml, also reachable as
workflow/schemas/config.schema.yaml) serves snakemake's ``validate`` in the Snakefile and
the ``regwas`` CLI, so a typo in a key is reported by name in both.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import yaml

from regwas.errors import InputError

SCHEMA_DIR = Path(__file__).parent / "schemas"


def load_schema(name: str) -> dict:
    """Load src/regwas/schemas/{name}.schema.yaml."""
    with open(SCHEMA_DIR / f"{name}.schema.yaml") as fh:
        return yaml.safe_load(fh)


def _validator_with_defaults():
    """A Draft 2020-12 validator class that fills in ``default`` values while validating."""
    from jsonschema import Draft202012Validator, validators

    base_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from base_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": set_defaults})


def _where(error) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def _describe(error) -> list[str]:
    """One line per problem, naming the dotted key; unknown keys (typos) are named directly."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        prefix = _where(error) + "." if error.absolute_path else ""
        return [
            f"  unknown key '{prefix}{key}' (allowed: {', '.join(sorted(known))})"
            for key in error.instance
            if key not in known
        ]
    return [f"  key '{_where(error)}': {error.message}"]


def validate_config(config: dict, source: str = "config") -> dict:
    """Validate ``config`` in place (defaults filled in) and return it.

    Raises InputError naming every bad key: unknown keys (typos), wrong types, values out of
    range, with the dotted path of the key.
    """
    schema = load_schema("config")
    validator = _validator_with_defaults()(schema)
    # defaults first (a sub-object's defaults appear only once the parent exists)
    for _ in range(3):
        list(validator.iter_errors(config))
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [line for e in errors for line in _describe(e)][:20]
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise InputError(f"{source}: invalid configuration\n" + "\n".join(lines) + more)
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


def merge_defaults(defaults: dict, values: dict | None, where: str | None = None) -> dict:
    """Overlay ``values`` on ``defaults`` recursively (nested dicts merged by key).

    With ``where`` (the config section, e.g. "gwas") a key that ``defaults`` lacks, or a
    non-mapping given for a nested section, raises InputError naming ``where.key``: the check
    every module's config needs when it is called outside the validated workflow.
    """
    out = copy.deepcopy(defaults)
    for key, value in (values or {}).items():
        if where is not None and key not in defaults:
            raise InputError(
                f"config {where}.{key}: unknown key '{key}' (allowed: {', '.join(sorted(defaults))})"
            )
        nested = isinstance(defaults.get(key), dict)
        if where is not None and nested and not isinstance(value, dict):
            raise InputError(f"config {where}.{key}: must be a mapping, got {value!r}")
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_defaults(out[key], value, None if where is None else f"{where}.{key}")
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fmt(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"`{text}`"


def _allowed(node: dict) -> str:
    parts = []
    if "enum" in node:
        parts.append(" \\| ".join(str(v) for v in node["enum"]))
    for key, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if key in node:
            parts.append(f"{sign} {node[key]}")
    if "pattern" in node:
        parts.append(f"matches `{node['pattern']}`")
    return ", ".join(parts)


def _rows(node: dict, path: str) -> list[str]:
    rows = []
    for key, sub in (node.get("properties") or {}).items():
        dotted = f"{path}.{key}" if path else key
        kind = sub.get("type", "")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        if not kind and "enum" in sub:
            kind = "string"
        default = _fmt(sub["default"]) if "default" in sub and not sub.get("properties") else ""
        description = sub.get("description", "").replace("|", "\\|")
        rows.append(f"| `{dotted}` | {kind} | {default} | {_allowed(sub)} | {description} |")
        if sub.get("properties"):
            rows += _rows(sub, dotted)
    return rows


def reference_markdown() -> str:
    """The table of every config key (type, default, allowed values, meaning) from the schema."""
    header = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    return "\n".join(header + _rows(load_schema("config"), "")) + "\n"


REFERENCE_BEGIN = "<!-- BEGIN generated by `python -m regwas.config` from the schema -->"
REFERENCE_END = "<!-- END generated -->"


def update_readme(path: str | os.PathLike) -> bool:
    """Rewrite the generated reference block of config/README.md; True when it changed."""
    path = Path(path)
    text = path.read_text()
    start, end = text.index(REFERENCE_BEGIN), text.index(REFERENCE_END)
    new = text[: start + len(REFERENCE_BEGIN)] + "\n\n" + reference_markdown() + "\n" + text[end:]
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "config/README.md")
    print(f"{target}: {'updated' if update_readme(target) else 'up to date'}")

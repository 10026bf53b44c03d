"""Validate a cohort's input tables (samples, diagnoses, manifests) against their JSON schemas.

Each schema (src/regwas/schemas/{name}.schema.yaml) describes one row as a JSON-schema object.
A table is read as text, each column is coerced to its schema type, and every cell is checked
with jsonschema. Checks run per distinct value of a column, so a biobank-sized table costs one
jsonschema call per distinct value, not per cell. Problems are reported together: file, line
(header = line 1), sample_id, column and what is wrong.

Schema extensions (keys starting with ``x-``):
- ``x-unique: [columns]`` (top level): these columns hold no duplicate values.
- ``x-normalise: icd10`` (on a property): cells are normalised before checking (ICD-10 codes
  to the dotted phecodeX_WHO form, see :func:`normalise_icd10`)."""

from __future__ import annotations

import csv
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.config.schema import load_schema
from regwas.errors import InputError
from regwas.io.icd10 import normalise_icd10
from regwas.io.tables import delimiter_hint

SCHEMAS = ("samples", "diagnoses", "manifest")
NA_TOKENS = frozenset({"", "NA", "NaN", "nan", "N/A", "null", "None"})
MAX_SHOWN = 10
# top-level keywords handled column by column (everything else is checked row by row)
_COLUMN_KEYWORDS = {
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "properties",
    "patternProperties",
    "additionalProperties",
    "required",
}


_NORMALISERS = {"icd10": normalise_icd10}


def _property_schema(schema: dict, column: str) -> dict | bool:
    """The sub-schema that applies to ``column`` (properties, patternProperties, additional)."""
    if column in schema.get("properties", {}):
        return schema["properties"][column]
    for pattern, sub in schema.get("patternProperties", {}).items():
        if re.search(pattern, column):
            return sub
    return schema.get("additionalProperties", True)


def _schema_type(sub: dict) -> str | None:
    """The first non-null JSON type named by a sub-schema (None when it names none)."""
    t = sub.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    return t


def _read_text_table(path: Path) -> pd.DataFrame:
    """Read a TSV with every cell as stripped text; missing cells as None. Index = line number."""
    label = str(path)
    if not path.exists():
        raise InputError(f"{label}: file does not exist")
    if path.is_dir():
        raise InputError(f"{label}: is a directory, expected a tab-separated table")
    opts = dict(
        sep="\t",
        dtype=str,
        na_filter=False,
        quoting=csv.QUOTE_NONE,
        encoding="utf-8-sig",
        skip_blank_lines=False,
    )
    try:
        header = pd.read_csv(path, header=None, nrows=1, **opts)
    except pd.errors.EmptyDataError as err:
        raise InputError(f"{label}: the table is empty (no header line)") from err
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        raise InputError(f"{label}: cannot be read as a tab-separated table: {err}") from err
    names = [str(x).strip() for x in header.iloc[0].tolist()]
    seen: set[str] = set()
    dups = sorted({n for n in names if n in seen or seen.add(n)})
    if dups:
        raise InputError(f"{label}: duplicate column name(s) in the header: {', '.join(dups)}")
    if "" in names:
        raise InputError(f"{label}: the header (line 1) has an empty column name")
    try:
        df = pd.read_csv(path, header=None, skiprows=1, names=names, **opts)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=names)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        raise InputError(f"{label}: cannot be read as a tab-separated table: {err}") from err
    df.index = np.arange(len(df)) + 2  # line numbers, header = line 1
    df = df.astype(object)
    for col in df.columns:
        s = df[col].where(df[col].notna(), "").astype(str).str.strip()
        df[col] = s.where(~s.isin(NA_TOKENS), None).astype(object)
    return df.loc[df.notna().any(axis=1)]  # blank lines are not rows


class _Problems:
    """Collects (line, column, message) problems and raises one InputError naming them."""

    def __init__(self, path: Path, ids: pd.Series | None):
        self.path = path
        self.ids = ids
        self.items: list[tuple[int, str, str]] = []

    def add(self, line: int, column: str | None, message: str) -> None:
        self.items.append((int(line), column or "", message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        self.items.sort(key=lambda x: (x[0], x[1]))
        name = self.path.name
        lines = []
        for line, column, message in self.items[:MAX_SHOWN]:
            where = f"{name} line {line}"
            if self.ids is not None and line in self.ids.index:
                sid = self.ids.loc[line]
                if sid is not None:
                    where += f" (sample_id {sid})"
            if column:
                where += f", column '{column}'"
            lines.append(f"  {where}: {message}")
        n = len(self.items)
        if n == 1:  # one problem, one line: the file, where and what
            raise InputError(f"{self.path}: {lines[0].strip().removeprefix(name + ' ')}")
        more = f"\n  ... and {n - MAX_SHOWN} more" if n > MAX_SHOWN else ""
        raise InputError(
            f"{self.path}: {n} problem{'s' if n != 1 else ''} found:\n" + "\n".join(lines) + more
        )


def _coerce(values: pd.Series, typ: str | None, column: str, problems: _Problems) -> pd.Series:
    """Convert a text column to its schema type; cells that do not convert are problems."""
    present = values.notna()
    if typ in ("number", "integer"):
        num = pd.to_numeric(values, errors="coerce").astype(float)
        bad = present & num.isna()
        for line, raw in values[bad].items():
            problems.add(line, column, f"{raw!r} is not a number")
        inf = present & ~bad & ~np.isfinite(num.fillna(0.0))
        for line, raw in values[inf].items():
            problems.add(line, column, f"{raw!r} is not a finite number")
        num[inf] = np.nan
        if typ == "integer":
            frac = num.notna() & (num != np.round(num))
            for line, raw in values[frac].items():
                problems.add(line, column, f"{raw!r} is not an integer")
            num[frac] = np.nan
            return num.astype("Int64")
        return num
    if typ == "boolean":
        mapping = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        out = values.str.lower().map(mapping)
        bad = present & out.isna()
        for line, raw in values[bad].items():
            problems.add(line, column, f"{raw!r} is not a boolean (true/false/1/0/yes/no)")
        return out.astype("boolean")
    return values


def _python_values(s: pd.Series) -> list:
    """Distinct non-missing values of a column as plain Python objects (for jsonschema)."""
    s = s.dropna()
    if s.dtype == "Int64":
        return [int(x) for x in pd.unique(s)]
    if s.dtype == "boolean":
        return [bool(x) for x in pd.unique(s)]
    if pd.api.types.is_float_dtype(s):
        return [float(x) for x in pd.unique(s)]
    return list(pd.unique(s))


_FAST_KEYWORDS = {
    "type",
    "description",
    "title",
    "default",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
}


def _surely_valid(values: pd.Series, typ: str, checks: dict) -> np.ndarray:
    """Vectorised pre-screen: True where a cell surely passes ``checks`` (or is missing).

    Only certifies validity for simple keywords; every other cell goes to jsonschema, which
    stays the authority (and writes the messages). Keeps biobank-sized tables fast.
    """
    present = values.notna().to_numpy()
    if set(checks) - _FAST_KEYWORDS or typ not in ("string", "number", "integer"):
        return ~present
    ok = np.ones(len(values), dtype=bool)
    if typ == "string":
        s = values.where(values.notna(), "").astype(str)
        if "enum" in checks:
            ok &= s.isin([x for x in checks["enum"] if isinstance(x, str)]).to_numpy()
        if "pattern" in checks:
            with warnings.catch_warnings():  # "pattern has match groups": irrelevant here
                warnings.simplefilter("ignore", UserWarning)
                ok &= s.str.contains(checks["pattern"], regex=True).to_numpy(dtype=bool)
        lengths = s.str.len().to_numpy()
        ok &= lengths >= checks.get("minLength", 0)
        ok &= lengths <= checks.get("maxLength", np.inf)
    else:
        x = values.astype(float).to_numpy(na_value=np.nan)
        if "enum" in checks:
            ok &= np.isin(x, [v for v in checks["enum"] if isinstance(v, int | float)])
        with np.errstate(invalid="ignore"):
            ok &= x >= checks.get("minimum", -np.inf)
            ok &= x <= checks.get("maximum", np.inf)
            ok &= x > checks.get("exclusiveMinimum", -np.inf)
            ok &= x < checks.get("exclusiveMaximum", np.inf)
    return ok | ~present


def validate_table(path: str | os.PathLike, schema: str) -> pd.DataFrame:
    """Read and validate one input table against its row schema; return the typed table.

    ``schema`` is "samples", "diagnoses" or "manifest". Raises InputError listing up to 10
    problems (file, line, sample_id, column, what is wrong) and their total count; a missing
    required column, duplicate ids and an empty table are errors too. The returned frame has a
    RangeIndex; ``df.attrs["lines"]`` holds each row's line number and ``df.attrs["path"]``
    the file.
    """
    from jsonschema import Draft7Validator

    path = Path(path)
    spec = load_schema(schema)
    raw = _read_text_table(path)
    required = list(spec.get("required", []))
    missing_cols = [c for c in required if c not in raw.columns]
    if missing_cols:
        raise InputError(
            f"{path}: missing required column(s) {', '.join(repr(c) for c in missing_cols)} "
            f"(columns found: {', '.join(map(str, raw.columns)) or 'none'})"
            + delimiter_hint(raw.columns)
        )
    if raw.empty:
        raise InputError(f"{path}: the table has a header but no data rows")

    ids = raw["sample_id"] if "sample_id" in raw.columns else None
    problems = _Problems(path, ids)
    out = {}
    for col in raw.columns:
        sub = _property_schema(spec, col)
        if sub is False:
            problems.add(1, col, "column not allowed by the schema")
            out[col] = raw[col]
            continue
        sub = dict(sub) if isinstance(sub, dict) else {}
        values = raw[col]
        norm = sub.pop("x-normalise", None)
        wording = sub.pop("x-problem", None)
        if norm is not None:
            present = values.notna()
            values = values.copy()
            values[present] = _NORMALISERS[norm](values[present]).astype(object)
        typ = _schema_type(sub)
        if typ is None:  # a column the schema does not type: numbers if all cells are numbers
            num = pd.to_numeric(values, errors="coerce")
            out[col] = num.astype(float) if num.notna().eq(values.notna()).all() else values
            continue
        typed = _coerce(values, typ, col, problems)
        out[col] = typed
        checks = {k: v for k, v in sub.items() if not k.startswith("x-")}
        validator = Draft7Validator(checks)
        errors = {}
        suspects = typed[~_surely_valid(typed, typ, checks)]
        for value in _python_values(suspects):
            err = next(iter(validator.iter_errors(value)), None)
            if err is not None:
                errors[value] = f"{value!r} {wording}" if wording else err.message
        if errors:
            keyed = typed.dropna()
            if keyed.dtype == "Int64":
                keyed = keyed.astype(np.int64)
            bad = keyed[keyed.isin(list(errors))]
            for line, value in bad.items():
                msg = errors[value.item() if hasattr(value, "item") else value]
                original = raw.at[line, col]
                if typ == "string" and original != value:
                    msg += f" (read {original!r} as {value!r})"
                problems.add(line, col, msg)
    for col in required:
        for line in raw.index[raw[col].isna()]:
            problems.add(line, col, "missing value (required)")
    for col in spec.get("x-unique", []):
        if col not in raw.columns:
            continue
        s = raw[col].dropna()
        dup = s[s.duplicated(keep=False)]
        first = dup.groupby(dup).apply(lambda g: int(g.index[0]))
        for line, value in dup.items():
            if line != first[value]:
                problems.add(line, col, f"duplicate {col} {value!r} (first on line {first[value]})")
    rest = {k: v for k, v in spec.items() if k not in _COLUMN_KEYWORDS and not k.startswith("x-")}
    if rest:  # row-level keywords (dependencies, if/then, ...): check row by row
        row_validator = Draft7Validator(rest)
        frame = pd.DataFrame(out, index=raw.index)
        for line, row in zip(raw.index, frame.to_dict("records"), strict=True):
            obj = {
                k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if pd.notna(v)
            }
            for err in row_validator.iter_errors(obj):
                problems.add(line, ".".join(map(str, err.absolute_path)) or None, err.message)
    problems.raise_if_any()
    df = pd.DataFrame(out, index=raw.index)
    lines = df.index.to_numpy()
    df = df.reset_index(drop=True)
    df.attrs["lines"] = lines
    df.attrs["path"] = str(path)
    return df

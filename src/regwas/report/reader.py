"""Read a `snakemake --report` (.html, or the .zip holding report/report.html): its
categories and result entries, as the report's own JavaScript data holds them."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

from regwas.errors import InputError


def report_html(path: str | os.PathLike) -> str:
    """The report's HTML text (from a .html file or a report .zip)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: report does not exist")
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith("report.html")]
            if not names:
                raise InputError(f"{path}: no report.html in the archive")
            return zf.read(sorted(names, key=len)[0]).decode()
    return path.read_text()


def _object(text: str, name: str) -> dict:
    match = re.search(rf"var {name} = \{{", text)
    if not match:
        raise InputError(f"report: no '{name}' data (not a Snakemake report?)")
    obj, _ = json.JSONDecoder().raw_decode(text[match.end() - 1 :])
    return obj


def report_entries(path: str | os.PathLike) -> dict:
    """{"categories": {category: {subcategory: [result paths]}}, "results": {path: entry}}
    where each entry has name, caption (HTML), mime_type, job_properties (rule, wildcards)."""
    text = report_html(path)
    return {"categories": _object(text, "categories"), "results": _object(text, "results")}


def zip_members(path: str | os.PathLike) -> list[str]:
    """Paths inside a report .zip (each result's data file, and report.html)."""
    with zipfile.ZipFile(path) as zf:
        return sorted(zf.namelist())

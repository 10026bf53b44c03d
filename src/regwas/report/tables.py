"""Tables for the Snakemake report: a TSV as a self-contained HTML table (the report shows
HTML in place; a TSV would only be offered for download)."""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.io.atomic import atomic_path
from regwas.io.tables import read_tsv

STYLE = (
    "body{font-family:sans-serif;font-size:13px;margin:8px}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 6px}"
    "th{background:#eee;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:"
    "tabular-nums}caption{text-align:left;font-weight:bold;margin-bottom:6px}"
)


def _cell(value: object) -> tuple[str, bool]:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "", True
        return f"{value:.4g}", True
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value), True
    return html.escape(str(value)), False


def table_html(table: pd.DataFrame, title: str) -> str:
    """An HTML page with ``table`` (numbers to 4 significant digits, empty cells for NaN)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for row in table.itertuples(index=False):
        cells = []
        for value in row:
            text, num = _cell(value)
            cells.append(f'<td class="num">{text}</td>' if num else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><table><caption>{html.escape(title)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
        "</body></html>\n"
    )


def write_table_html(tsv: str | os.PathLike, out: str | os.PathLike, title: str) -> Path:
    out = Path(out)
    text = table_html(read_tsv(tsv), title)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return out

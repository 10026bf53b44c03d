"""Report pieces: the headline table and figure, the resource table, HTML tables, and the
reader of a Snakemake report (on a report built from a two-rule workflow)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regwas.report.headline import HEADLINE_COLUMNS, headline_table, write_headline
from regwas.report.reader import report_entries
from regwas.report.resources import resource_table
from regwas.report.tables import table_html

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def comparison():
    return pd.DataFrame(
        {
            "modality": ["ecg", "ecg"],
            "space": ["native", "median_beat"],
            "lead_loci": [2, 3],
            "causal_recovered": [1, 3],
            "false_loci": [1, 0],
            "phewas_hits": [0, 2],
            "disease_links_recovered": [0, 1],
        }
    )


def probes(shift: float):
    return pd.DataFrame(
        {
            "phenotype": ["qt", "sex_male"],
            "metric": ["r2", "roc_auc"],
            "mean": [0.1 + shift, 0.6 + shift / 2],
            "ci_low": [0.05 + shift, 0.55 + shift / 2],
            "ci_high": [0.15 + shift, 0.65 + shift / 2],
        }
    )


def test_headline_answers_registered_vs_native(tmp_path):
    tests = pd.DataFrame(
        {
            "modality": ["ecg", "ecg"],
            "space": ["median_beat"] * 2,
            "phenotype": ["qt", "sex_male"],
            "metric": ["r2", "roc_auc"],
            "p_corrected": [1e-4, 0.3],
        }
    )
    table = headline_table(
        comparison(),
        {("ecg", "native"): probes(0.0), ("ecg", "median_beat"): probes(0.5)},
        tests,
    )
    assert list(table.columns) == HEADLINE_COLUMNS
    by = table.set_index("measure")
    assert by.loc["planted loci recovered", "verdict"] == "registered better"
    assert by.loc["false loci", "verdict"] == "registered better"  # fewer false loci
    assert by.loc["lead loci", "verdict"] == "n/a"  # more loci is not better by itself
    assert by.loc["probe qt r2", "verdict"] == "registered better"
    assert by.loc["probe sex_male roc_auc", "verdict"] == "no significant difference"
    assert by.loc["probe qt r2", "registered_ci_low"] == pytest.approx(0.55)
    png, pdf = write_headline(table, tmp_path / "headline")
    assert png.stat().st_size > 10_000 and pdf.read_bytes()[:4] == b"%PDF"
    again = write_headline(table, tmp_path / "again")
    assert again[1].read_bytes() == pdf.read_bytes()  # no creation date


def test_resource_table_from_benchmark_files(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for rel, s, rss in [("gwas/ecg_native_chr1", 2.0, 100), ("gwas/ecg_native_chr2", 3.0, 150),
                        ("compare", 1.5, 80)]:  # fmt: skip
        path = tmp_path / f"{rel}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + f"{s}\t0:00:0{int(s)}\t{rss}\t1\t1\t1\t0\t0\t1\t{s / 2}\n")
    (tmp_path / "notes.tsv").write_text("a\tb\n1\t2\n")  # not a benchmark: skipped
    table = resource_table(tmp_path)
    assert list(table["rule"]) == ["gwas", "compare"]
    row = table.iloc[0]
    assert (row["jobs"], row["total_s"], row["max_s"], row["max_rss_mb"]) == (2, 5.0, 3.0, 150)


def test_html_table_escapes_and_rounds():
    text = table_html(pd.DataFrame({"a<b": ["x&y"], "v": [1 / 3], "n": [np.nan]}), "T")
    assert "<th>a&lt;b</th>" in text and "<td>x&amp;y</td>" in text
    assert '<td class="num">0.3333</td>' in text and '<td class="num"></td>' in text


def test_reader_finds_categories_and_entries(tmp_path):
    (tmp_path / "cap.rst").write_text("A caption for {{ snakemake.wildcards.x }}.\n")
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            """
            rule all:
                input: expand("out/{x}.html", x=["a", "b"])

            rule make:
                output: report("out/{x}.html", caption="cap.rst", category="1. First", subcategory="{x}")
                shell: "echo '<p>{wildcards.x}</p>' > {output}"
            """
        )
    )
    run = [SNAKEMAKE, "-s", str(tmp_path / "Snakefile"), "--directory", str(tmp_path)]
    subprocess.run([*run, "--cores", "1"], check=True, capture_output=True, timeout=300)
    subprocess.run([*run, "--report", "report.zip"], check=True, capture_output=True, timeout=300)
    entries = report_entries(tmp_path / "report.zip")
    assert entries["categories"] == {"1. First": {"a": ["out/a.html"], "b": ["out/b.html"]}}
    entry = entries["results"]["out/a.html"]
    assert entry["mime_type"] == "text/html"
    assert "A caption for a." in entry["caption"]
    assert entry["job_properties"]["rule"] == "make"

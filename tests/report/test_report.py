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


def test_headline_compares_registered_and_native_within_each_method(tmp_path):
    """With a baseline, comparison.tsv has a row per space and method (analysis native.pca,
    ...): each registered analysis is set against the native analysis of the same method,
    with that method's probe tests; counts and probe means chosen apart per method so that a
    pairing across methods would show other numbers."""
    table = pd.DataFrame(
        {
            "modality": ["ecg"] * 4,
            "space": ["native", "median_beat", "native", "median_beat"],
            "method": ["autoencoder", "autoencoder", "pca", "pca"],
            "analysis": ["native", "median_beat", "native.pca", "median_beat.pca"],
            "lead_loci": [2, 3, 10, 12],
            "causal_recovered": [1, 3, 4, 2],
        }
    )
    shifts = {"native": 0.0, "median_beat": 0.2, "native.pca": 0.1, "median_beat.pca": 0.05}
    tests = pd.DataFrame(
        {
            "modality": ["ecg"] * 4,
            "space": ["median_beat"] * 4,
            "method": ["autoencoder", "autoencoder", "pca", "pca"],
            "analysis": ["median_beat", "median_beat", "median_beat.pca", "median_beat.pca"],
            "phenotype": ["qt", "sex_male"] * 2,
            "metric": ["r2", "roc_auc"] * 2,
            "p_corrected": [1e-4, 0.3, 0.01, 1e-5],
        }
    )
    out = headline_table(table, {("ecg", a): probes(v) for a, v in shifts.items()}, tests)
    assert list(out.columns) == HEADLINE_COLUMNS
    assert set(out["space"]) == {"median_beat"}
    for method, native, registered in (
        ("autoencoder", "native", "median_beat"),
        ("pca", "native.pca", "median_beat.pca"),
    ):
        rows = out[out["method"] == method].set_index("measure")
        nat, reg = (
            table.set_index("analysis").loc[native],
            table.set_index("analysis").loc[registered],
        )
        for col, measure in (
            ("lead_loci", "lead loci"),
            ("causal_recovered", "planted loci recovered"),
        ):
            assert rows.loc[measure, "native"] == nat[col]
            assert rows.loc[measure, "registered"] == reg[col]
        qt = rows.loc["probe qt r2"]
        assert qt["native"] == pytest.approx(0.1 + shifts[native])
        assert qt["difference"] == pytest.approx(shifts[registered] - shifts[native])
        mine = tests[(tests["analysis"] == registered) & (tests["phenotype"] == "qt")]
        assert qt["p_value"] == mine["p_corrected"].item()
    pca = out[out["method"] == "pca"].set_index("measure")
    assert pca.loc["planted loci recovered", "verdict"] == "native better"
    assert pca.loc["probe sex_male roc_auc", "verdict"] == "native better"
    png, _ = write_headline(out, tmp_path / "headline")
    assert png.stat().st_size > 10_000
    import matplotlib.pyplot as plt

    from regwas.report.headline import headline_figure

    fig = headline_figure(out)
    titles = [ax.get_title() for ax in fig.axes]
    plt.close(fig)
    assert titles[0] == "ecg (autoencoder): median_beat vs native, loci and hits"
    assert titles[2] == "ecg (pca): median_beat vs native, loci and hits"


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

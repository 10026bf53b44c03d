"""End to end: the report and the bundle of the workflow on config/test.yaml. The report
holds every expected entry and renders in headless Chromium; the bundle verifies, holds no
sample id of the cohort, and a rebuild from re-run rules has identical result files.

Set REGWAS_TEST_RUN to a folder where the workflow already ran on config/test.yaml to reuse it.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import TEST_CONFIG, snakemake

from regwas.publish.diff import diff_bundles
from regwas.publish.verify import read_sample_ids, verify_bundle
from regwas.report.reader import report_entries

CONFIG = str(TEST_CONFIG)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report_bundle")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    reuse = os.environ.get("REGWAS_TEST_RUN")
    workdir = Path(reuse) if reuse else tmp_path_factory.mktemp("report_bundle")
    snakemake(workdir, "--configfile", CONFIG, "--cores", "2")
    snakemake(workdir, "--configfile", CONFIG, "--report", "results/report/report.zip")
    snakemake(workdir, "--configfile", CONFIG, "--report", "results/report/report.html")
    snakemake(workdir, "bundle", "--configfile", CONFIG, "--cores", "2")
    return workdir


def the_bundle(workdir: Path) -> Path:
    (bundle,) = sorted((workdir / "results/bundle").glob("regwas-test-*.tar.gz"))
    return bundle


def test_report_has_every_expected_entry(workdir):
    entries = report_entries(workdir / "results/report/report.zip")
    categories, results = entries["categories"], entries["results"]
    assert sorted(categories)[0] == "1. Did registration help?"  # the menu sorts: it leads
    assert {"Comparison", "GWAS", "PheWAS", "Resource usage"} <= set(categories)
    assert set(categories["GWAS"]) == {"ecg"} and set(categories["PheWAS"]) == {"ecg"}
    expected = {
        "results/plots/headline.png",
        "results/report/headline.html",
        "results/report/comparison.html",
        "results/report/resources.html",
        "results/comparison.tsv",
        "results/plots/ecg/qq.png",
        "results/plots/ecg/median_beat_vs_native.miami.png",
    }
    for space in ("native", "median_beat"):
        expected |= {
            f"results/plots/ecg/{space}.manhattan.png",
            f"results/plots/ecg/{space}.phewas_qq.png",
        }
    assert expected <= set(results), expected - set(results)
    for path, entry in results.items():
        assert len(entry["caption"]) > 80, f"{path}: caption too short"
    assert "Did registration help?" in results["results/plots/headline.png"]["caption"]
    assert results["results/report/comparison.html"]["mime_type"] == "text/html"


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None, reason="chromium not installed (make system installs it)")
def test_report_renders_in_headless_chromium(workdir, tmp_path):
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        (workdir / "results/report/report.html").resolve().as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    # the menu is drawn by the report's scripts: present only if they ran
    for item in ("1. Did registration help?", "Comparison", "GWAS", "PheWAS", "Resource usage"):
        assert f">{item}<" in dom, item


def test_bundle_verifies_and_holds_no_sample_id(workdir):
    bundle = the_bundle(workdir)
    ids = read_sample_ids(workdir / "results/cohort/samples.tsv")
    removed = read_sample_ids(workdir / "results/cohort/related_removed.tsv")
    assert len(removed) == 2 and len(ids) == 300 - 2  # config/test.yaml plants 2 duplicates
    assert verify_bundle(bundle, ids) == []
    cli = [str(Path(sys.executable).parent / "regwas"), "bundle", "verify", str(bundle)]
    samples = str(workdir / "results/cohort/samples.tsv")
    result = subprocess.run([*cli, "--samples", samples], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_rerun_rules_give_identical_result_files(workdir, tmp_path):
    first = tmp_path / "first.tar.gz"
    shutil.copy(the_bundle(workdir), first)
    snakemake(
        workdir,
        "bundle",
        "--configfile",
        CONFIG,
        "--cores",
        "2",
        "--forcerun",
        "compare",
        "gwas_merge",
        "gwas_ssf",
        "headline",
        "plot_qq",
        "plot_manhattan",
    )
    diff = diff_bundles(first, the_bundle(workdir))
    assert diff.results_identical(), diff.lines()
    assert "results/ecg/native/gwas_ssf.tsv.gz" in diff.same
    assert "results/plots/ecg/qq.pdf" in diff.same

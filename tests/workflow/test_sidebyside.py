"""End to end: PCA and autoencoder side by side in one run (represent.baseline, issue 11).

config/test.yaml with represent.method autoencoder (a tiny budget) and represent.baseline pca:
the autoencoder's analyses keep results/ecg/{space}/, PCA's are results/ecg/{space}.pca/, and
comparison.tsv holds a row per space and method, registered vs native compared within a
method. Checked against the per-analysis files and direct computations."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import ROOT, output
from workflow_helpers import snakemake as run_snakemake

from regwas.io.embeddings import read_embeddings, read_embeddings_metadata

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sidebyside")]

SIDE_BY_SIDE = {
    "represent": {
        "method": "autoencoder",
        "baseline": "pca",
        "autoencoder": {"steps": 20, "batch_size": 16, "eval_every": 10},
    }
}
# (space, method, analysis folder), in the order of comparison.tsv
ANALYSES = [
    ("native", "autoencoder", "native"),
    ("median_beat", "autoencoder", "median_beat"),
    ("native", "pca", "native.pca"),
    ("median_beat", "pca", "median_beat.pca"),
]


def snakemake(workdir: Path, *args: str) -> str:
    """The shared helper's run, its stdout and stderr together."""
    return output(run_snakemake(workdir, *args))


def configs(workdir: Path, changes: dict) -> tuple[str, ...]:
    path = workdir / f"override_{len(list(workdir.glob('override_*')))}.yaml"
    path.write_text(yaml.safe_dump(changes, sort_keys=False))
    return ("--configfile", str(ROOT / "config/test.yaml"), str(path))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("sidebyside")
    snakemake(workdir, *configs(workdir, SIDE_BY_SIDE), "--cores", "2")
    return workdir / "results"


def test_comparison_has_a_row_per_space_and_method(run):
    table = pd.read_csv(run / "comparison.tsv", sep="\t")
    assert list(zip(table["space"], table["method"], table["analysis"], strict=True)) == ANALYSES
    assert set(table["modality"]) == {"ecg"}
    for row in table.itertuples():  # the method as the embeddings' metadata records it
        meta = read_embeddings_metadata(run / "ecg" / row.analysis / "embeddings.parquet")
        assert (meta["method"], meta["space"]) == (row.method, row.space)
    # the same people and variants in every analysis of a space
    assert table["n_variants"].nunique() == 1
    assert table.groupby("space")["n_in_space"].nunique().eq(1).all()


def test_probe_comparison_pairs_within_method(run):
    """Each registered analysis against the native analysis of its own method: the means and
    the paired difference recomputed from the two analyses' probes.tsv fold columns."""
    probes = pd.read_csv(run / "probe_comparison.tsv", sep="\t")
    assert sorted(set(zip(probes["space"], probes["method"], probes["analysis"], strict=True))) == [
        ("median_beat", "autoencoder", "median_beat"),
        ("median_beat", "pca", "median_beat.pca"),
    ]
    for row in probes.itertuples():
        native = "native" if row.method == "autoencoder" else "native.pca"
        tables = {}
        for a in (native, row.analysis):
            t = pd.read_csv(run / "ecg" / a / "probes.tsv", sep="\t")
            tables[a] = t[(t["phenotype"] == row.phenotype) & (t["metric"] == row.metric)]
        folds = [c for c in tables[native].columns if c.startswith("fold_")]
        nat = tables[native][folds].to_numpy(float)[0]
        reg = tables[row.analysis][folds].to_numpy(float)[0]
        assert row.mean_native == pytest.approx(nat.mean())
        assert row.mean_registered == pytest.approx(reg.mean())
        assert row.mean_diff == pytest.approx(np.mean(reg - nat))


def test_baseline_analyses_read_the_primary_stores(run):
    """results/ecg/native.pca/ holds the analysis, not a copy of the store; its embeddings are
    PCA of native's store (the people of native/samples.tsv); the autoencoder's files belong to
    the autoencoder's analyses only."""
    for space in ("native", "median_beat"):
        primary, baseline = run / "ecg" / space, run / "ecg" / f"{space}.pca"
        assert not (baseline / "data.npy").exists() and not (baseline / "samples.tsv").exists()
        for name in ("embeddings.adjusted.parquet", "gwas.tsv.gz", "gwas_summary.json",
                     "lead_variants.tsv", "phewas.tsv", "probes.tsv", "gwas_ssf.tsv.gz"):  # fmt: skip
            assert (baseline / name).stat().st_size > 0, baseline / name
        ids, z, meta = read_embeddings(baseline / "embeddings.parquet")
        store_ids = pd.read_csv(primary / "samples.tsv", sep="\t", dtype=str)["sample_id"]
        assert list(ids) == list(store_ids) and z.shape[1] == 8
        assert meta["method"] == "pca" and "model_file" not in meta
        assert (primary / "model.pt").exists() and not (baseline / "model.pt").exists()
        assert read_embeddings_metadata(primary / "embeddings.parquet")["method"] == "autoencoder"
        ssf = (baseline / "gwas_ssf.tsv.gz-meta.yaml").read_text()
        assert f"({space} space): pca embedding" in ssf


def test_plots_of_both_methods(run):
    plots = run / "plots" / "ecg"
    for name in ("native.pca.manhattan", "median_beat.pca.phewas_qq",
                 "median_beat.pca_vs_native.pca.miami", "median_beat_vs_native.miami",
                 "native.autoencoder", "median_beat.autoencoder", "qq"):  # fmt: skip
        assert (plots / f"{name}.png").stat().st_size > 10_000, name
    assert not list(plots.glob("*.pca.autoencoder.*"))


def test_headline_within_method(run):
    """headline.tsv: median_beat against native once per method, with that method's numbers."""
    headline = pd.read_csv(run / "headline.tsv", sep="\t")
    table = pd.read_csv(run / "comparison.tsv", sep="\t").set_index("analysis")
    assert set(zip(headline["space"], headline["method"], strict=True)) == {
        ("median_beat", "autoencoder"),
        ("median_beat", "pca"),
    }
    loci = headline[headline["measure"] == "lead loci"].set_index("method")
    for method, native, registered in (
        ("autoencoder", "native", "median_beat"),
        ("pca", "native.pca", "median_beat.pca"),
    ):
        assert loci.loc[method, "native"] == table.loc[native, "lead_loci"]
        assert loci.loc[method, "registered"] == table.loc[registered, "lead_loci"]


def test_baseline_off_reruns_no_primary_analysis(run):
    """Turning the baseline off (null) plans only what lists the analyses (the comparison, the
    QQ plot, the summaries): the primary embeddings and everything after them stay."""
    workdir = run.parent
    assert "Nothing to be done" in snakemake(workdir, *configs(workdir, SIDE_BY_SIDE), "-n")
    off = {"represent": {**SIDE_BY_SIDE["represent"], "baseline": None}}
    out = snakemake(workdir, *configs(workdir, off), "-n")
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    jobs = {line.split()[0] for line in table.splitlines()[3:] if line.split()[0] != "total"}
    assert jobs == {"compare", "plot_qq", "headline", "report_tables", "resource_usage", "all"}


def test_bundle_holds_both_methods(run):
    """The publication bundle carries the baseline's analyses like the primary's, and verifies
    (manifest, no individual-level data)."""
    import tarfile

    from regwas.publish.verify import read_sample_ids, verify_bundle

    workdir = run.parent
    snakemake(workdir, *configs(workdir, SIDE_BY_SIDE), "--cores", "2", "bundle")
    (bundle,) = (run / "bundle").glob("regwas-test-*.tar.gz")
    with tarfile.open(bundle) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for analysis in ("native", "median_beat", "native.pca", "median_beat.pca"):
        for name in ("gwas.tsv.gz", "gwas_ssf.tsv.gz", "lead_variants.tsv", "probes.tsv"):
            assert f"results/ecg/{analysis}/{name}" in names
    assert "results/plots/ecg/median_beat.pca_vs_native.pca.miami.pdf" in names
    assert "results/plots/ecg/native.autoencoder.png" in names
    assert verify_bundle(bundle, read_sample_ids(run / "cohort/samples.tsv")) == []

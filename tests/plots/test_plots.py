"""Tests for regwas.plots: files written atomically, thinning, λGC and the QQ band vs scipy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from scipy import stats

from regwas import cli, plots
from regwas.config import section
from regwas.errors import InputError
from regwas.genetics import lambda_gc
from regwas.genetics.chromosomes import chromosome_order, chromosome_sort_key, parse_chromosomes
from regwas.io.tables import write_tsv

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def synth_gwas(
    n: int,
    seed: int = 0,
    peaks: tuple[tuple[int, float], ...] = ((3, 400.0), (7, 60.0), (20, 12.0)),
    n_chrom: int = 22,
    ids: bool = True,
) -> pd.DataFrame:
    """Uniform-p variants on n_chrom chromosomes + planted peaks; the top of each has p = 0."""
    rng = np.random.default_rng(seed)
    lengths = (2.5e8 * (1.0 - np.arange(n_chrom) / 30.0)).astype(np.int64)
    chrom = np.sort(rng.choice(np.arange(1, n_chrom + 1), size=n, p=lengths / lengths.sum()))
    bp = rng.integers(1, lengths[chrom - 1])
    order = np.lexsort((bp, chrom))
    chrom, bp = chrom[order], bp[order]
    y = -np.log10(rng.uniform(size=n))
    for c, top in peaks:
        idx = np.flatnonzero(chrom == c)
        centre = idx[idx.size // 2]
        near = idx[np.abs(bp[idx] - bp[centre]) < 200_000]
        shape = np.exp(-((bp[near] - bp[centre]) ** 2) / (2 * 60_000.0**2))
        y[near] = np.maximum(y[near], top * shape * rng.uniform(0.6, 1.0, near.size))
        y[centre] = top
    p = 10.0**-y  # underflows to 0.0 for y > ~323, as real summary statistics do
    df = pd.DataFrame(
        {
            "chromosome": chrom.astype(str),
            "base_pair_location": bp,
            "p_value": p,
            "neg_log10_p": y,
        }
    )
    if ids:
        df.insert(2, "variant_id", [f"rs{i}" for i in range(n)])
    return df


def synth_phewas(n: int = 200, seed: int = 0, n_sig: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cats = ["circulatory system", "endocrine/metabolic", "neoplasms", "respiratory", "digestive"]
    p = rng.uniform(size=n)
    sig = rng.choice(n, n_sig, replace=False)
    p[sig] = 10.0 ** -rng.uniform(6, 40, n_sig)
    p[sig[0]] = 0.0
    return pd.DataFrame(
        {
            "phecode": [f"{250 + i / 10:.1f}" for i in range(n)],
            "description": [f"phenotype number {i}" for i in range(n)],
            "category": rng.choice(cats, n),
            "n_cases": rng.integers(20, 2000, n),
            "n_controls": 10_000,
            "beta": rng.normal(size=n),
            "se": 0.1,
            "p_value": p,
            "significant": p < 0.05 / n,
        }
    )


def assert_valid_outputs(paths: list[Path], min_bytes: int = 5_000) -> None:
    png, pdf = (Path(p) for p in paths)
    assert png.suffix == ".png" and pdf.suffix == ".pdf"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(png)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert float(image[..., :3].std()) > 0.01  # not a blank canvas
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert png.stat().st_size > min_bytes and pdf.stat().st_size > min_bytes
    # atomic writes leave nothing else behind (no .tmp / hidden temp files)
    leftovers = sorted(p.name for p in png.parent.iterdir() if p.name.startswith("."))
    assert leftovers == []


@pytest.fixture(scope="module")
def gwas_small() -> pd.DataFrame:
    return synth_gwas(30_000, seed=1)


# ------------------------------------------------------------------ statistics
def test_lambda_gc_matches_scipy_on_moderate_p():
    rng = np.random.default_rng(3)
    chi2 = 1.15 * rng.chisquare(1, size=50_001)
    p = stats.chi2.sf(chi2, 1)
    p = p[(p > 1e-12) & (p < 1.0)]
    reference = np.median(stats.chi2.isf(p, 1)) / stats.chi2.ppf(0.5, 1)
    assert lambda_gc(-np.log10(p)) == pytest.approx(reference, rel=1e-9)
    assert reference == pytest.approx(1.15, abs=0.03)  # planted inflation recovered


def test_lambda_gc_uniform_is_one_and_tiny_p_finite():
    rng = np.random.default_rng(4)
    y = -np.log10(rng.uniform(size=200_000))
    assert lambda_gc(y) == pytest.approx(1.0, abs=0.02)
    # p far below float64 (and p = 0 in the p_value column): still finite and ordered
    big = np.array([50.0, 300.0, 400.0, 1000.0, 1000.0])
    lam = lambda_gc(big)
    assert math.isfinite(lam) and lam > lambda_gc(big[:3])
    # chi2 from log p agrees with scipy where scipy can still compute it (p = 1e-300)
    ref = stats.chi2.isf(1e-300, 1) / stats.chi2.ppf(0.5, 1)
    assert lambda_gc([300.0]) == pytest.approx(ref, rel=1e-9)


def test_qq_band_covers_95_percent_of_uniform_order_statistics():
    n, reps = 400, 500
    rng = np.random.default_rng(5)
    obs = -np.log10(np.sort(rng.uniform(size=(reps, n)), axis=1))  # rank i = column i-1
    expected, lower, upper = plots.qq_band(n)
    assert np.all(lower < expected) and np.all(expected < upper)
    inside = (obs >= lower) & (obs <= upper)
    per_rank = inside.mean(axis=0)
    assert per_rank.mean() == pytest.approx(0.95, abs=0.01)
    assert per_rank.min() > 0.88
    # the band at chosen ranks equals the full band there
    ranks = np.array([1, 10, 200, 400])
    e2, lo2, up2 = plots.qq_band(n, ranks)
    np.testing.assert_allclose(lo2, lower[ranks - 1])
    np.testing.assert_allclose(up2, upper[ranks - 1])


def test_thinning_keeps_every_significant_point_and_bounds_the_null():
    rng = np.random.default_rng(6)
    n = 2_000_000
    x = np.sort(rng.uniform(0, 3e9, n))
    y = -np.log10(rng.uniform(size=n))
    planted = rng.choice(n, 500, replace=False)
    y[planted] = rng.uniform(7.3, 1000.0, 500)
    keep = plots.thin_points(x, y, keep_above=2.0, x_bins=2000, y_bins=50)
    above = np.flatnonzero(y > 2.0)
    assert np.isin(above, keep).all()
    assert np.isin(planted, keep).all()
    null_kept = np.setdiff1d(keep, above)
    assert null_kept.size <= 2000 * 50
    assert null_kept.size / (n - above.size) < 0.06
    # the shape of the null cloud survives: its extent, up to one grid cell
    null = y <= 2.0
    assert y[null_kept].max() >= y[null].max() - 2.0 / 50
    assert x[null_kept].min() <= x[null].min() + 3e9 / 2000
    assert x[null_kept].max() >= x[null].max() - 3e9 / 2000
    np.testing.assert_array_equal(keep, plots.thin_points(x, y, 2.0, 2000, 50))  # deterministic


def test_chromosomes_sort_naturally():
    names = ["10", "2", "X", "chr1", "22", "MT", "Y", "3"]
    assert sorted(names, key=chromosome_sort_key) == ["chr1", "2", "3", "10", "22", "X", "Y", "MT"]


# ------------------------------------------------------------------ plots
def test_manhattan_writes_png_and_pdf(tmp_path, gwas_small):
    paths = plots.manhattan(gwas_small, tmp_path / "man", title="test")
    assert [p.name for p in paths] == ["man.png", "man.pdf"]
    assert_valid_outputs(paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["man.pdf", "man.png"]


def test_manhattan_axes_labels_and_leads(gwas_small):
    shuffled = gwas_small.sample(frac=1.0, random_state=0)
    shuffled["chromosome"] = shuffled["chromosome"].map(lambda c: f"chr{c}")
    leads = pd.DataFrame(
        {
            "chromosome": ["3", "7"],
            "base_pair_location": [1_000_000, 2_000_000],
            "variant_id": ["rsLEADA", "rsLEADB"],
            "neg_log10_p": [400.0, 60.0],
        }
    )
    fig = plots.manhattan_figure(shuffled, leads=leads)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [str(i) for i in range(1, 23)]
    texts = {t.get_text() for t in ax.texts}
    assert {"rsLEADA", "rsLEADB"} <= texts
    # without leads: the top peaks are labelled with their variant ids
    fig = plots.manhattan_figure(gwas_small)
    texts = {t.get_text() for t in fig.axes[0].texts}
    top = gwas_small.sort_values("neg_log10_p", ascending=False)
    assert top["variant_id"].iloc[0] in texts
    for c in ("7", "20"):
        best = top[top["chromosome"] == c]["variant_id"].iloc[0]
        assert best in texts


def test_p_zero_and_neg_log10_p_1000_drawn_finite(gwas_small):
    g = gwas_small.copy()
    g.loc[g.index[100], ["p_value", "neg_log10_p"]] = [0.0, 1000.0]
    fig = plots.manhattan_figure(g)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo == 0.0 and math.isfinite(hi) and hi >= 1000.0
    drawn = np.concatenate([line.get_ydata() for line in ax.get_lines() if len(line.get_ydata())])
    assert np.isfinite(drawn).all() and drawn.max() == 1000.0
    # +inf is rejected with a message naming the column
    g.loc[g.index[5], "neg_log10_p"] = np.inf
    with pytest.raises(InputError, match="neg_log10_p"):
        plots.manhattan_figure(g)


def test_miami_mirrors_bottom_and_shares_axes(tmp_path, gwas_small):
    other = synth_gwas(20_000, seed=2, peaks=((3, 25.0), (9, 15.0)))
    fig = plots.miami_figure(gwas_small, other, "registered", "native")
    top, bottom = fig.axes
    assert top.get_ylim()[0] == 0.0 and bottom.get_ylim()[1] == 0.0  # bottom inverted
    assert bottom.get_ylim()[0] == pytest.approx(top.get_ylim()[1])
    assert top.get_xlim() == bottom.get_xlim()
    thr = -math.log10(5e-8)
    for ax in (top, bottom):
        assert any(np.allclose(line.get_ydata(), thr) for line in ax.get_lines())
    paths = plots.miami(
        gwas_small, other, tmp_path / "miami", top_label="registered", bottom_label="native"
    )
    assert_valid_outputs(paths)


def test_qq_several_spaces_with_lambda_in_legend(tmp_path, gwas_small):
    rng = np.random.default_rng(8)
    inflated = -np.log10(stats.chi2.sf(1.2 * rng.chisquare(1, 20_000), 1))
    fig = plots.qq_figure([gwas_small, inflated], labels=["registered", "native"])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    lam = lambda_gc(inflated)
    assert any(t.startswith("native") and f"{lam:.3f}" in t for t in legend)
    assert any(t.startswith("registered") for t in legend)
    assert fig.axes[0].get_ylim()[1] >= 400.0
    assert_valid_outputs(plots.qq([gwas_small, inflated], tmp_path / "qq", ["a", "b"]))


def test_phewas_qq_colours_categories_and_labels_significant(tmp_path):
    phe = synth_phewas()
    fig = plots.phewas_qq_figure(phe)
    ax = fig.axes[0]
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert set(phe["category"]) <= legend
    labelled = {t.get_text() for t in ax.texts}
    assert set(phe.loc[phe["significant"], "description"]) <= labelled
    assert not set(phe.loc[~phe["significant"], "description"]) & labelled
    assert math.isfinite(ax.get_ylim()[1]) and ax.get_ylim()[1] > 300  # p = 0 row drawn
    assert_valid_outputs(plots.phewas_qq(phe, tmp_path / "phewas"))


def test_two_million_variants_thinned_rasterised_small_pdf(tmp_path):
    gwas = synth_gwas(2_000_000, seed=9, ids=False)
    assert (gwas["p_value"] == 0.0).sum() >= 1  # planted peak at 1e-400 underflows
    fig = plots.manhattan_figure(gwas)
    ax = fig.axes[0]
    scatters = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert all(line.get_rasterized() for line in scatters)
    drawn = np.concatenate([line.get_ydata() for line in scatters])
    # bounded: every point above keep_above (2) plus at most one per null grid cell
    n_above = int((gwas["neg_log10_p"] > 2.0).sum())
    cfg = section("plots")
    bound = n_above + cfg["thin_x_bins"] * cfg["thin_y_bins"]
    assert n_above <= drawn.size <= bound and drawn.size < 0.1 * len(gwas)
    assert (
        np.sort(drawn[drawn > 2.0]).tolist()
        == np.sort(gwas["neg_log10_p"].to_numpy()[gwas["neg_log10_p"].to_numpy() > 2.0]).tolist()
    )
    assert ax.get_ylim()[1] >= 400.0
    paths = plots.save_figure(fig, tmp_path / "big")
    qq_paths = plots.qq(gwas, tmp_path / "bigqq")
    assert_valid_outputs(paths)
    assert_valid_outputs(qq_paths)
    assert paths[1].stat().st_size < 3_000_000
    assert qq_paths[1].stat().st_size < 3_000_000


def test_failed_write_leaves_nothing(tmp_path, gwas_small, monkeypatch):
    original = Figure.savefig

    def fail_on_pdf(self, fname, *args, **kwargs):
        if kwargs.get("format") == "pdf":
            raise OSError("disk full")
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", fail_on_pdf)
    with pytest.raises(OSError, match="disk full"):
        plots.qq(gwas_small, tmp_path / "qq")
    assert list(tmp_path.iterdir()) == []


def test_missing_column_and_bad_config_are_named(gwas_small):
    with pytest.raises(InputError, match="base_pair_location"):
        plots.manhattan_figure(gwas_small.drop(columns="base_pair_location"))
    with pytest.raises(InputError, match=r"plots\.keep_above"):
        plots.manhattan_figure(gwas_small, config={"keep_above": -1})
    with pytest.raises(InputError, match=r"unknown key 'plots\.keep_abvoe'"):
        plots.manhattan_figure(gwas_small, config={"keep_abvoe": 3})


# ------------------------------------------------------------------ CLI
def test_cli_all_plot_kinds(tmp_path, capsys):
    gwas_small = synth_gwas(5_000, seed=11)
    g1, g2 = tmp_path / "a.tsv.gz", tmp_path / "b.tsv.gz"
    write_tsv(gwas_small, g1)
    write_tsv(synth_gwas(10_000, seed=3, peaks=((5, 30.0),)), g2)
    leads = tmp_path / "leads.tsv"
    write_tsv(
        gwas_small.nlargest(3, "neg_log10_p")[
            ["chromosome", "base_pair_location", "variant_id", "neg_log10_p"]
        ],
        leads,
    )
    phe = tmp_path / "phewas.tsv"
    write_tsv(synth_phewas(), phe)
    out = tmp_path / "out"
    runs = {
        "man": ["manhattan", "--gwas", str(g1), "--leads", str(leads), "--title", "T"],
        "miami": [
            "miami",
            "--top",
            str(g1),
            "--bottom",
            str(g2),
            "--top-label",
            "registered",
            "--bottom-label",
            "native",
        ],
        "qq": ["qq", "--gwas", str(g1), "--gwas", str(g2), "--label", "a", "--label", "b"],
        "phewas": ["phewas", "--phewas", str(phe)],
    }
    for name, argv in runs.items():
        assert cli.main(["plot", *argv, "--out", str(out / name)]) == 0
        assert_valid_outputs([out / f"{name}.png", out / f"{name}.pdf"])
    # a user error exits 2 with the file and column named
    bad = tmp_path / "bad.tsv"
    write_tsv(gwas_small.drop(columns="chromosome"), bad)
    assert cli.main(["plot", "manhattan", "--gwas", str(bad), "--out", str(out / "x")]) == 2
    err = capsys.readouterr().err
    assert "bad.tsv" in err and "chromosome" in err


def test_one_chromosome_order_and_parser():
    """The GWAS merge sorts chromosomes in the order the plots draw them; ranges parse or fail."""
    names = ["X", "10", "chr2", "MT", "1", "Y", "22", "XY"]
    ranks = chromosome_order(names)
    assert [n for _, n in sorted(zip(ranks, names, strict=True))] == sorted(
        names, key=chromosome_sort_key
    )
    assert sorted(names, key=chromosome_sort_key) == ["1", "chr2", "10", "22", "X", "Y", "XY", "MT"]
    assert parse_chromosomes("1-3,X") == ["1", "2", "3", "X"]
    with pytest.raises(InputError, match="bad range '5-1'"):
        parse_chromosomes("5-1")


def test_highlight_colour_reaches_every_plot_family(gwas_small):
    """plots.highlight colours the threshold lines of Manhattan, QQ and PheWAS QQ alike."""
    from matplotlib.colors import to_hex

    cfg = {"highlight": "#00ff00"}
    figures = {
        "manhattan": plots.manhattan_figure(gwas_small, config=cfg),
        "qq": plots.qq_figure([gwas_small], labels=["x"], config=cfg),
        "phewas": plots.phewas_qq_figure(synth_phewas(), config=cfg),
    }
    for name, fig in figures.items():
        colours = {to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines()}
        assert "#00ff00" in colours, name


def test_chromosome_x_is_drawn_after_22(gwas_small):
    """A GWAS with chromosome X (as the GWAS writes it, or PLINK's 23): X is the last tick and
    its points lie right of chromosome 22's."""
    x_rows = gwas_small[gwas_small["chromosome"] == "5"].assign(chromosome="X")
    g = pd.concat([x_rows, gwas_small], ignore_index=True)  # X first in the table
    ax = plots.manhattan_figure(g).axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [*(str(i) for i in range(1, 23)), "X"]
    frame = plots.as_gwas_frame(g, "g")
    order, offsets, _ = plots.genome_layout([frame])
    x = plots.xpos(frame, offsets)
    chrom = frame.names[frame.code]
    assert order[-1] == "X" and x[chrom == "X"].min() > x[chrom == "22"].max()
    assert sorted(["X", "23", "22"], key=chromosome_sort_key)[0] == "22"

"""The end-of-run summary of `make demo`: comparison.tsv as a short table, paths, duration."""

import pandas as pd

from regwas.compare.summary import duration, main, summary_text


def test_summary_renders_the_comparison_table(tmp_path, capsys):
    pd.DataFrame(
        {
            "modality": ["ecg", "ecg"],
            "space": ["native", "median_beat"],
            "n_variants": [4944, 4944],
            "lambda_gc": [0.97479, 0.99875],
            "lead_loci": [0, 3],
            "causal_recovered": [0, 2],
            "causal_total": [3, 3],
            "phewas_tests": [15, 15],
            "phewas_hits": [0, 1],
            "probe_qt_r2": [-0.028, 0.872],
        }
    ).to_csv(tmp_path / "comparison.tsv", sep="\t", index=False)
    text = summary_text(tmp_path, seconds=412, name="demo")
    assert text.startswith(f"regwas run 'demo' finished in 6 min 52 s. Results: {tmp_path}/")
    lines = text.splitlines()
    header = next(ln for ln in lines if "ecg/native" in ln)
    assert header.split() == ["ecg/native", "ecg/median_beat"]
    rows = {ln.split("  ")[1].strip(): ln.split()[-2:] for ln in lines if ln.startswith("  ")}
    assert rows["lambda GC"] == ["0.975", "0.999"]
    assert rows["planted causal variants recovered"] == ["0/3", "2/3"]
    assert rows["PheWAS hits / phecodes tested"] == ["0/15", "1/15"]
    assert rows["probe qt r2"] == ["-0.028", "0.872"]
    assert "false loci" not in rows  # columns the table lacks are left out
    assert "plots/ecg/" in text
    main(["--results", str(tmp_path), "--seconds", "5"])
    assert "regwas run finished in 5 s." in capsys.readouterr().out


def test_summary_without_a_comparison_table(tmp_path):
    assert "no comparison.tsv yet" in summary_text(tmp_path)
    assert duration(59.6) == "1 min 00 s"


def test_summary_shows_both_methods_side_by_side(tmp_path):
    """With represent.baseline a space has a row per method: the columns name the method."""
    pd.DataFrame(
        {
            "modality": ["ecg"] * 4,
            "space": ["native", "median_beat"] * 2,
            "method": ["autoencoder", "autoencoder", "pca", "pca"],
            "analysis": ["native", "median_beat", "native.pca", "median_beat.pca"],
            "lead_loci": [1, 2, 3, 4],
        }
    ).to_csv(tmp_path / "comparison.tsv", sep="\t", index=False)
    lines = summary_text(tmp_path).splitlines()
    header = next(ln for ln in lines if "ecg/native" in ln)
    assert [c.strip() for c in header.split("  ") if c.strip()] == [
        "ecg/native (autoencoder)",
        "ecg/median_beat (autoencoder)",
        "ecg/native (pca)",
        "ecg/median_beat (pca)",
    ]
    loci = next(ln for ln in lines if ln.strip().startswith("lead loci"))
    assert loci.split()[-4:] == ["1", "2", "3", "4"]
    assert any("ecg/<space>.<method>/" in ln for ln in lines)

"""The cross-modal lead-variant cluster figure: directions, shared loci, planted truth."""

import json

import numpy as np
import pandas as pd
import pytest

from regwas.errors import InputError
from regwas.plots.lead_clusters import (
    annotate,
    lead_cluster_figure,
    lead_cluster_plots,
    lead_directions,
)


def _leads(rows):
    return pd.DataFrame(
        [
            {
                "chromosome": c,
                "base_pair_location": p,
                "variant_id": f"{c}:{p}:A:G",
                "direction_het": json.dumps(list(np.asarray(v) / 2)),
                "direction_hom": json.dumps(list(v))
                if hom
                else json.dumps([float("nan")] * len(v)),
            }
            for c, p, v, hom in rows
        ]
    )


def test_directions_loci_and_truth(tmp_path):
    """Unit directions (the het direction doubled when no alternate homozygote was seen);
    two modalities' leads 100 kb apart are one shared locus; truth names the modality of a
    causal variant within the window, "none" otherwise; clustering puts each modality's
    mutually parallel leads next to each other."""
    e1, e2 = np.array([1.0, 0, 0, 0]), np.array([0, 0, 1.0, 0])
    ecg = _leads(
        [("1", 1_000, 3 * e1, True), ("2", 5_000, e1 + 0.1, False), ("3", 9_000, e1, True)]
    )
    brain = _leads([("1", 101_000, e2, True), ("4", 7_000, 2 * e2 + 0.05, True)])
    rows = lead_directions({"ecg": ecg, "brain": brain})
    np.testing.assert_allclose(np.linalg.norm(np.stack(rows["direction"]), axis=1), 1.0)
    np.testing.assert_allclose(rows["direction"].iloc[1], (e1 + 0.1) / np.linalg.norm(e1 + 0.1))
    truth = pd.DataFrame(
        {"modality": ["ecg", "brain"], "chromosome": ["1", "4"], "position": [1_200, 7_100]}
    )
    rows = annotate(rows, 500_000, truth)
    assert rows["found_in"].tolist() == ["shared", "ecg", "ecg", "shared", "brain"]
    assert rows["planted"].tolist() == ["ecg", "none", "none", "ecg", "brain"]
    fig = lead_cluster_figure(rows)
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    groups = [lab.split(":")[0] for lab in labels]
    assert groups in (["ecg"] * 3 + ["brain"] * 2, ["brain"] * 2 + ["ecg"] * 3)
    paths = {}
    for m, t in (("ecg", ecg), ("brain", brain)):
        paths[m] = tmp_path / f"{m}.tsv"
        t.to_csv(paths[m], sep="\t", index=False)
    truth.to_csv(tmp_path / "truth.tsv", sep="\t", index=False)
    out = lead_cluster_plots(paths, tmp_path / "fig", 500, truth=tmp_path / "truth.tsv")
    assert all(p.stat().st_size > 1000 for p in out)


def test_bad_leads_are_clear_errors():
    with pytest.raises(InputError, match="not one shared space"):
        lead_directions(
            {
                "ecg": _leads([("1", 1, np.ones(3), True)]),
                "brain": _leads([("1", 1, np.ones(4), True)]),
            }
        )
    rows = lead_directions({"ecg": _leads([("1", 1, np.ones(3), True)])})
    fig = lead_cluster_figure(annotate(rows, 1000))  # one lead: a figure that says so
    assert "nothing to cluster" in fig.axes[0].texts[0].get_text()

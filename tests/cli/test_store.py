"""`regwas store`: the workflow's native / median-beat array stores from the command line, so
that `regwas embed` runs without Snakemake; compared with the records read directly and with
the library calls the workflow's rules make."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from regwas.cli import main
from regwas.io.arraystore import ArrayStore
from regwas.register import ecg
from regwas.simulate import ecg as se


@pytest.fixture(scope="module")
def ecg_manifest(tmp_path_factory):
    rng = np.random.default_rng(2)
    n = 8
    people = pd.DataFrame(
        {
            "sample_id": [f"S{i:03d}" for i in range(n)],
            "age": rng.uniform(40, 70, n),
            "sex": rng.choice(["F", "M"], n),
            "bmi": rng.normal(27, 4, n),
            "height": 170.0,
            "site": "a",
        }
    )
    factors = pd.DataFrame(
        rng.standard_normal((n, len(se.FACTORS))), columns=se.FACTORS, index=people["sample_id"]
    )
    out = tmp_path_factory.mktemp("ecg")
    table = se.render_ecg(people, factors, {}, seed=3, out_dir=out)
    path = out / "ecg.manifest.tsv"
    table[["sample_id", "path"]].to_csv(path, sep="\t", index=False)
    return path, table


def test_ecg_native_store_then_embed(ecg_manifest, tmp_path, capsys):
    path, table = ecg_manifest
    out = tmp_path / "ecg" / "native"
    argv = ["store", "--manifest", str(path), "--modality", "ecg", "--space", "native"]
    assert main([*argv, "--out", str(out)]) == 0
    store = ArrayStore(out)
    assert list(store.sample_ids) == table["sample_id"].tolist()
    for i, rel in enumerate(table["path"]):
        np.testing.assert_array_equal(store.data[i], ecg.read_record(path.parent / rel)[0])
    emb = tmp_path / "e.parquet"
    assert main(["embed", str(out), "--out", str(emb), "--latent-dim", "3"]) == 0
    z = pd.read_parquet(emb)
    assert z["sample_id"].tolist() == table["sample_id"].tolist() and z.shape[1] == 4


def test_ecg_median_beat_store(ecg_manifest, tmp_path):
    path, table = ecg_manifest
    out = tmp_path / "mb"
    argv = ["store", "--manifest", str(path), "--modality", "ecg", "--space", "median_beat"]
    assert main([*argv, "--out", str(out), "--threads", "2"]) == 0
    store = ArrayStore(out)
    for i, sid in enumerate(store.sample_ids):
        rel = table.set_index("sample_id").loc[sid, "path"]
        beat, _ = ecg.median_beat_record(path.parent / rel)
        np.testing.assert_array_equal(store.data[i], beat)


def test_store_refuses_a_registered_space(ecg_manifest, tmp_path, capsys):
    path, _ = ecg_manifest
    argv = ["store", "--manifest", str(path), "--modality", "brain", "--space", "ants_syn"]
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ants_syn" in err[0] and "native" in err[0]
    assert not (tmp_path / "x").exists()


def test_brain_native_store_equals_the_workflow_rule(tmp_path):
    """The CLI (template built on the fly) writes the store the workflow's rules write
    (brain_template then brain_native)."""
    pytest.importorskip("ants")
    pytest.importorskip("nilearn")
    from regwas.register.image import stores
    from regwas.simulate import brain

    rng = np.random.default_rng(4)
    n = 3
    people = pd.DataFrame(
        {
            "sample_id": [f"B{i}" for i in range(n)],
            "age": rng.uniform(45, 80, n),
            "sex": rng.choice(["F", "M"], n),
            "site": "site1",
        }
    )
    factors = pd.DataFrame(
        rng.standard_normal((n, len(brain.FACTORS))), columns=brain.FACTORS, index=people.sample_id
    )
    table = brain.render_brain(people, factors, {}, seed=2, out_dir=tmp_path)
    manifest = tmp_path / "brain.manifest.tsv"
    table[["sample_id", "path", "t2_path", "label_path"]].to_csv(manifest, sep="\t", index=False)
    argv = ["store", "--manifest", str(manifest), "--modality", "brain", "--space", "native"]
    assert main([*argv, "--out", str(tmp_path / "cli")]) == 0
    from regwas.config.schema import defaults

    stores.build_template(manifest, {}, defaults("seed"), tmp_path / "template")
    stores.build_native(manifest, tmp_path / "template", {}, tmp_path / "rule")
    a, b = ArrayStore(tmp_path / "cli"), ArrayStore(tmp_path / "rule")
    assert list(a.sample_ids) == list(b.sample_ids) == people["sample_id"].tolist()
    np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data))

"""The publication bundle: deterministic, described, verified (manifest and individual-level
data), and compared (`regwas bundle verify`, `regwas bundle diff`)."""

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regwas.cli.entry import main
from regwas.errors import InputError
from regwas.publish.bundle import INDIVIDUAL_WARNING, build_bundle, part_of
from regwas.publish.diff import diff_bundles
from regwas.publish.provenance import input_checksums
from regwas.publish.verify import IdScanner, verify_bundle

N = 40
IDS = [f"S{i:06d}" for i in range(1, N + 1)]
DATE = "2026-01-02"


def results_tree(root: Path, seed: int = 0) -> dict[str, Path]:
    """A small set of aggregate result files like a run's, and their bundle paths."""
    rng = np.random.default_rng(seed)
    files = {
        "results/comparison.tsv": pd.DataFrame(
            {"modality": ["ecg", "ecg"], "space": ["native", "median_beat"], "lead_loci": [1, 2]}
        ),
        "results/ecg/native/gwas.tsv.gz": pd.DataFrame(
            {
                "chromosome": ["1"] * 25,
                "base_pair_location": np.arange(25) * 1000 + 1,
                "variant_id": [f"1:{i * 1000 + 1}:A:G" for i in range(25)],
                "p_value": rng.uniform(size=25),
            }
        ),
        "results/ecg/native/phewas.tsv": pd.DataFrame({"phecode": ["CV_401"], "p_value": [0.5]}),
    }
    out = {}
    for rel, table in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".gz"):
            with gzip.GzipFile(path, "wb", mtime=0) as gz:
                gz.write(table.to_csv(sep="\t", index=False).encode())
        else:
            table.to_csv(path, sep="\t", index=False)
        out[rel] = path
    png = root / "results/plots/ecg/qq.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    out["results/plots/ecg/qq.png"] = png
    return out


CONFIG = {"name": "unit", "seed": 7, "modalities": ["ecg"], "bundle": {}}


def make_bundle(tmp: Path, name: str = "a.tar.gz", files=None, provenance=None, **kw) -> Path:
    files = files or results_tree(tmp / "run")
    prov = {"cohort.json": {"n_people": N}, "git.json": {"commit": "0" * 40, "dirty": False}}
    prov.update(provenance or {})
    return build_bundle(tmp / name, files, kw.pop("config", CONFIG), prov, date=DATE, **kw)


def samples_file(tmp: Path) -> Path:
    path = tmp / "samples.tsv"
    pd.DataFrame({"sample_id": IDS, "age": np.arange(N)}).to_csv(path, sep="\t", index=False)
    return path


def members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar if m.isfile()}


def rewrite(bundle: Path, out: Path, change: dict[str, bytes]) -> Path:
    """A copy of ``bundle`` with members replaced or added (manifest untouched)."""
    with tarfile.open(bundle) as src, tarfile.open(out, "w:gz") as dst:
        top = src.getmembers()[0].name.split("/")[0]
        for m in src:
            rel = m.name.split("/", 1)[1]
            data = change.pop(rel, None) if rel in change else src.extractfile(m).read()
            info = tarfile.TarInfo(m.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
        for rel, data in change.items():
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out


def test_bundle_layout_readme_citation_and_manifest(tmp_path):
    bundle = make_bundle(tmp_path)
    assert bundle.name == "a.tar.gz"
    content = members(bundle)
    names = set(content)
    assert {"README.md", "CITATION.cff", "MANIFEST.sha256", "config.yaml"} <= names
    assert {"provenance/cohort.json", "provenance/git.json", "results/comparison.tsv"} <= names
    with tarfile.open(bundle) as tar:
        tops = {m.name.split("/")[0] for m in tar}
        assert tops == {f"regwas-unit-{DATE}"}
        assert {m.mtime for m in tar} == {1767312000} and {m.uid for m in tar} == {0}
    readme = content["README.md"].decode()
    for name in names:
        assert f"`{name}`" in readme, name
    assert "(no description)" not in readme
    assert "No individual-level data" in readme
    assert "cff-version: 1.2.0" in content["CITATION.cff"].decode()
    listed = {line.split("  ")[1] for line in content["MANIFEST.sha256"].decode().splitlines()}
    assert listed == names - {"MANIFEST.sha256"}


def test_same_files_give_identical_bytes(tmp_path):
    files = results_tree(tmp_path / "run")
    a = make_bundle(tmp_path, "a.tar.gz", files)
    b = make_bundle(tmp_path, "b.tar.gz", files)
    assert a.read_bytes() == b.read_bytes()


def test_clean_bundle_verifies_and_has_no_sample_id(tmp_path):
    bundle = make_bundle(tmp_path)
    assert verify_bundle(bundle, IDS) == []
    assert main(["bundle", "verify", str(bundle), "--samples", str(samples_file(tmp_path))]) == 0


def test_one_changed_byte_is_detected(tmp_path, capsys):
    bundle = make_bundle(tmp_path)
    content = members(bundle)
    data = bytearray(content["results/ecg/native/phewas.tsv"])
    data[-2] ^= 1
    bad = rewrite(bundle, tmp_path / "bad.tar.gz", {"results/ecg/native/phewas.tsv": bytes(data)})
    problems = verify_bundle(bad, IDS)
    assert [p.file for p in problems] == ["results/ecg/native/phewas.tsv"]
    assert "sha256 differs" in problems[0].message
    assert main(["bundle", "verify", str(bad)]) == 1
    assert "results/ecg/native/phewas.tsv" in capsys.readouterr().err


def test_a_byte_flipped_in_the_archive_is_detected(tmp_path):
    bundle = make_bundle(tmp_path)
    raw = bytearray(bundle.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "flipped.tar.gz"
    bad.write_bytes(bytes(raw))
    try:
        problems = verify_bundle(bad, IDS)
    except InputError:
        return  # the archive no longer reads: detected
    assert problems


def test_added_unlisted_file_is_detected(tmp_path):
    bundle = make_bundle(tmp_path)
    bad = rewrite(bundle, tmp_path / "bad.tar.gz", {"results/extra.txt": b"hello\n"})
    assert [str(p) for p in verify_bundle(bad)] == ["results/extra.txt: not in the manifest"]


@pytest.mark.parametrize(
    ("name", "data", "expect"),
    [
        ("results/notes.txt", b"outlier: S000017 had a noisy ECG\n", "sample id 'S000017'"),
        (
            "results/ecg/native/extra.tsv.gz",
            gzip.compress(b"variant\tnote\n1:5:A:G\tS000003.hea\n", mtime=0),
            "sample id 'S000003'",
        ),
        (
            "results/per_person.tsv",
            ("x\ty\n" + "".join(f"{i}\t{i * 2}\n" for i in range(N))).encode(),
            f"{N} rows, one per person",
        ),
        ("results/qc.tsv", b"sample_id\tok\nX1\tTrue\n", "person-id column ['sample_id']"),
        ("results/genotypes.bed", b"l\x1b\x01", "individual-level file type"),
    ],
)
def test_planted_individual_level_data_is_detected(tmp_path, capsys, name, data, expect):
    bundle = make_bundle(tmp_path)
    # a planted file with a matching manifest line: only the content scan can catch it
    import hashlib

    content = members(bundle)
    manifest = content["MANIFEST.sha256"] + f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()
    bad = rewrite(bundle, tmp_path / "bad.tar.gz", {name: data, "MANIFEST.sha256": manifest})
    problems = verify_bundle(bad, IDS)
    assert [p.file for p in problems] == [name], problems
    assert expect in problems[0].message
    assert main(["bundle", "verify", str(bad), "--samples", str(samples_file(tmp_path))]) == 1
    assert name in capsys.readouterr().err


def test_array_with_the_cohorts_row_count_is_detected(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.zeros((N, 8), dtype=np.float32))
    files = results_tree(tmp_path / "run")
    path = tmp_path / "run" / "latents.npy"
    path.write_bytes(buf.getvalue())
    files["results/latents.npy"] = path
    problems = verify_bundle(make_bundle(tmp_path, files=files))
    assert [p.file for p in problems] == ["results/latents.npy"]
    assert f"one row per person (N = {N})" in problems[0].message  # N from provenance/cohort.json


def test_individual_level_only_when_the_config_opts_in(tmp_path):
    person = tmp_path / "emb.tsv"
    pd.DataFrame({"sample_id": IDS, "z000": np.zeros(N)}).to_csv(person, sep="\t", index=False)
    with pytest.raises(InputError, match="include_individual_level"):
        make_bundle(tmp_path, individual={"ecg/native/emb.tsv": person})
    config = {**CONFIG, "bundle": {"include_individual_level": True}}
    bundle = make_bundle(tmp_path, config=config, individual={"ecg/native/emb.tsv": person})
    readme = members(bundle)["README.md"].decode()
    assert readme.splitlines()[0] == INDIVIDUAL_WARNING
    problems = verify_bundle(bundle, IDS)
    assert {p.file for p in problems} == {"individual/ecg/native/emb.tsv"}
    assert verify_bundle(bundle, IDS, allow_individual=True) == []


def test_diff_identical_and_which_files_differ(tmp_path, capsys):
    files = results_tree(tmp_path / "run")
    a = make_bundle(tmp_path, "a.tar.gz", files)
    b = make_bundle(tmp_path, "b.tar.gz", files, provenance={"resources.tsv": b"rule\ts\nx\t2\n"})
    d = diff_bundles(a, b)
    assert d.results_identical() and d.only_b == ["provenance/resources.tsv"]
    assert main(["bundle", "diff", str(a), str(b)]) == 0
    assert "results: identical" in capsys.readouterr().out

    other = results_tree(tmp_path / "run2", seed=1)
    c = make_bundle(tmp_path, "c.tar.gz", other)
    d = diff_bundles(a, c)
    assert not d.results_identical()
    assert "results/ecg/native/gwas.tsv.gz" in d.differ
    assert "results/comparison.tsv" in d.same
    assert main(["bundle", "diff", str(a), str(c)]) == 1
    out = capsys.readouterr().out
    assert "results: DIFFERENT" in out and "differ: results/ecg/native/gwas.tsv.gz" in out


def test_parts_of_a_bundle():
    assert part_of("results/ecg/native/gwas.tsv.gz") == "results"
    assert part_of("provenance/git.json") == "provenance"
    assert part_of("report/report.zip") == "report"
    assert part_of("config.yaml") == "config"
    assert part_of("README.md") == "meta"


def test_id_scanner_needs_whole_tokens_across_chunks():
    scanner = IdScanner(["S000001"])
    assert scanner.find([b"xx S0000", b"01 yy"]) == b"S000001"
    assert scanner.find([b"XS0000012 S0000010"]) is None
    assert scanner.find([b"path/S000001.hea"]) == b"S000001"


def test_input_checksums_hide_per_person_file_names(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    for sid in IDS[:3]:
        (records / f"{sid}.hea").write_text("header\n")
        (records / f"{sid}.dat").write_bytes(b"\0\1")
    manifest = tmp_path / "ecg.manifest.tsv"
    manifest.write_text("sample_id\tpath\n" + "".join(f"{s}\trecords/{s}\n" for s in IDS[:3]))
    table = input_checksums([manifest], manifests=[manifest])
    assert list(table["files"]) == [1, 6]
    assert not any(sid in " ".join(table["path"]) for sid in IDS)

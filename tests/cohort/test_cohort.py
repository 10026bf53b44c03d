"""Cohort stage: genetic PCs against planted population structure and scikit-learn, id and
file checks on tiny cohorts built here (msprime genotypes written with bed-reader)."""

from __future__ import annotations

import shutil
from pathlib import Path

import msprime
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import wfdb
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from regwas import cli
from regwas.cohort.checks import check_file
from regwas.cohort.prepare import prepare_cohort
from regwas.config.schema import section
from regwas.errors import InputError
from regwas.genetics.chromosomes import parse_chromosomes
from regwas.genetics.pca import compute_pcs
from regwas.io.plink import BedReader, read_bim

N_PER_POP = 80
POPS = ("A", "B", "C")


def _simulate_chromosome(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Diploid ALT counts (people x sites) and positions from a 3-population split."""
    dem = msprime.Demography()
    for name in (*POPS, "ANC"):
        dem.add_population(name=name, initial_size=5_000)
    dem.add_population_split(time=600, derived=list(POPS), ancestral="ANC")
    ts = msprime.sim_ancestry(
        samples={p: N_PER_POP for p in POPS},
        demography=dem,
        sequence_length=3e6,
        recombination_rate=1e-8,
        random_seed=seed,
    )
    ts = msprime.sim_mutations(ts, rate=1e-8, model=msprime.BinaryMutationModel(), random_seed=seed)
    hap = ts.genotype_matrix()  # sites x haplotypes (0/1)
    dosage = (hap[:, 0::2] + hap[:, 1::2]).T.astype(np.float32)
    positions = ts.tables.sites.position.astype(np.int64)
    return dosage, positions


@pytest.fixture(scope="module")
def geno(tmp_path_factory):
    """Two chromosomes of 240 people in 3 populations, 0.3% missing genotypes."""
    from bed_reader import to_bed

    root = tmp_path_factory.mktemp("geno")
    n = N_PER_POP * len(POPS)
    ids = [f"S{i:04d}" for i in range(n)]
    pops = np.repeat(np.arange(len(POPS)), N_PER_POP)
    rng = np.random.default_rng(7)
    dosages = {}
    for chrom, seed in ((1, 11), (2, 12)):
        dosage, pos = _simulate_chromosome(seed)
        dosage[rng.random(dosage.shape) < 0.003] = np.nan
        alt = rng.choice(list("ACGT"), len(pos))
        ref = np.where(alt == "A", "G", "A")
        to_bed(
            root / f"chr{chrom}.bed",
            dosage,
            properties={
                "fid": ids,
                "iid": ids,
                "chromosome": [str(chrom)] * len(pos),
                "sid": [f"{chrom}:{p}" for p in pos],
                "bp_position": pos,
                "allele_1": alt.tolist(),
                "allele_2": ref.tolist(),
            },
            count_A1=True,
        )
        dosages[str(chrom)] = dosage
    return {"root": root, "ids": ids, "pops": pops, "dosages": dosages}


def _prefixes(geno) -> dict[str, str]:
    return {c: str(geno["root"] / f"chr{c}") for c in ("1", "2")}


def _pca_cfg(**kw) -> dict:
    return section("cohort_qc.pca", kw)


def test_bed_written_with_alt_as_a1(geno):
    """bed-reader count_A1=True writes A1 counts; BedReader reads them back as ALT counts."""
    with BedReader(_prefixes(geno)["1"]) as reader:
        got = reader.read(0, reader.n_variants).T.astype(np.float32)
        alt = reader.bim["alt"]
    want = geno["dosages"]["1"]
    miss = np.isnan(want)
    assert np.array_equal(got == -9, miss)
    assert np.array_equal(got[~miss], want[~miss])
    assert (read_bim(f"{_prefixes(geno)['1']}.bim")["alt"] == alt).all()


def test_pcs_separate_populations_and_are_seeded(geno):
    idx = np.arange(len(geno["ids"]))
    pcs, table, used = compute_pcs(_prefixes(geno), idx, _pca_cfg(n_pcs=5), seed=3)
    assert pcs.shape == (len(idx), 5)
    # planted truth: three populations are linearly separable on PC1, PC2
    clf = LogisticRegression(max_iter=2000).fit(pcs[:, :2], geno["pops"])
    assert clf.score(pcs[:, :2], geno["pops"]) > 0.95
    assert np.all(np.diff(table["eigenvalue"]) <= 1e-12)
    assert np.all(np.diff(table["variance_explained"]) <= 1e-12)
    assert (table["n_variants"] == len(used)).all()
    np.testing.assert_allclose(pcs.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(pcs.std(axis=0), 1, rtol=1e-4)
    again, table2, _ = compute_pcs(_prefixes(geno), idx, _pca_cfg(n_pcs=5), seed=3)
    assert np.array_equal(pcs, again)
    assert table.equals(table2)


def _standardised(dosage: np.ndarray) -> np.ndarray:
    mean = np.nanmean(dosage, axis=0)
    sd = np.nanstd(dosage, axis=0)
    z = (dosage - mean) / sd
    return np.where(np.isnan(z), 0.0, z)


def test_pcs_match_sklearn(geno):
    """Randomized streaming PCA equals sklearn's exact PCA on the same variants, and the pruned
    variants give nearly the PC1 of all common variants."""
    idx = np.arange(len(geno["ids"]))
    pcs, table, used = compute_pcs(_prefixes(geno), idx, _pca_cfg(n_pcs=4), seed=0)
    cols = []
    for chrom, dosage in geno["dosages"].items():
        bim = read_bim(geno["root"] / f"chr{chrom}.bim")
        pick = bim["variant_id"].isin(used["variant_id"]).to_numpy()
        cols.append(dosage[:, pick])
    X = _standardised(np.hstack(cols))
    assert X.shape[1] == len(used)
    ref = PCA(n_components=4, svd_solver="full").fit(X)
    scores = ref.transform(X)
    for k in range(3):
        r = np.corrcoef(pcs[:, k], scores[:, k])[0, 1]
        assert abs(r) > 0.999, (k, r)
    m, n = X.shape[1], X.shape[0]
    np.testing.assert_allclose(
        table["eigenvalue"][:3] * m / (n - 1), ref.explained_variance_[:3], rtol=1e-3
    )
    np.testing.assert_allclose(
        table["variance_explained"][:3], ref.explained_variance_ratio_[:3], rtol=1e-3
    )
    # all common, well-called variants, no pruning, exact PCA
    full = np.hstack(list(geno["dosages"].values()))
    freq = np.nanmean(full, axis=0) / 2
    keep = (np.minimum(freq, 1 - freq) >= 0.05) & (np.mean(~np.isnan(full), axis=0) >= 0.98)
    assert keep.sum() > 1.5 * len(used)  # pruning did remove variants
    pc1_full = PCA(n_components=1, svd_solver="full").fit_transform(_standardised(full[:, keep]))
    assert abs(np.corrcoef(pcs[:, 0], pc1_full[:, 0])[0, 1]) > 0.95


@pytest.mark.parametrize("prune", ["thin", "none"])
def test_other_pruning_methods(geno, prune):
    idx = np.arange(len(geno["ids"]))
    cfg = _pca_cfg(n_pcs=3, prune=prune, thin_bp=20_000, max_variants=3000)
    pcs, table, used = compute_pcs(_prefixes(geno), idx, cfg, seed=1)
    assert len(used) <= 3000
    if prune == "thin":
        for _, g in used.groupby("chromosome"):
            assert np.diff(np.sort(g["position"])).min() >= 20_000
    clf = LogisticRegression(max_iter=2000).fit(pcs[:, :2], geno["pops"])
    assert clf.score(pcs[:, :2], geno["pops"]) > 0.95


def test_ld_pruning_bounds_r2(geno):
    """No two kept variants within the window have r² >= ld_r2 (checked with numpy corrcoef)."""
    idx = np.arange(len(geno["ids"]))
    cfg = _pca_cfg(n_pcs=2, ld_r2=0.2, ld_window=20, max_variants=10**6)
    _, _, used = compute_pcs(_prefixes(geno), idx, cfg, seed=0)
    bim = read_bim(geno["root"] / "chr1.bim")
    pick = bim["variant_id"].isin(used["variant_id"]).to_numpy()
    dosage = geno["dosages"]["1"]
    freq = np.nanmean(dosage, axis=0) / 2
    cand = (np.minimum(freq, 1 - freq) >= 0.05) & (np.mean(~np.isnan(dosage), axis=0) >= 0.98)
    Z = _standardised(dosage[:, cand])
    kept = pick[cand]
    r2 = (Z.T @ Z / Z.shape[0]) ** 2
    pos = np.flatnonzero(kept)
    close = np.abs(pos[:, None] - pos[None, :]) < 20
    np.fill_diagonal(close, False)
    assert r2[np.ix_(pos, pos)][close].max() < 0.2
    assert 0 < kept.sum() < cand.sum()


# --------------------------------------------------------------------------- whole stage


def _write(path: Path, df: pd.DataFrame) -> Path:
    df.to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture
def cohort(geno, tmp_path):
    """Inputs of a tiny cohort: samples (shuffled), diagnoses, ECG (WFDB) and brain (NIfTI)."""
    ids = geno["ids"]
    rng = np.random.default_rng(0)
    samples = pd.DataFrame(
        {
            "sample_id": ids,
            "age": rng.integers(40, 80, len(ids)),
            "sex": rng.choice(["F", "M"], len(ids)),
            "bmi": rng.normal(27, 3, len(ids)).round(1),
            "site": rng.choice(["s1", "s2"], len(ids)),
        }
    ).sample(frac=1, random_state=1)
    inputs_dir = tmp_path / "in"
    data = inputs_dir / "data"
    data.mkdir(parents=True)
    diag = pd.DataFrame({"sample_id": [ids[0], ids[1], ids[1]], "icd10": ["I480", "I10", "g30.1"]})
    ecg_rows, brain_rows = [], []
    for sid in ids[:6]:
        wfdb.wrsamp(
            sid,
            fs=100,
            units=["mV", "mV"],
            sig_name=["I", "II"],
            p_signal=rng.normal(size=(200, 2)),
            fmt=["16", "16"],
            write_dir=str(data),
        )
        ecg_rows.append({"sample_id": sid, "path": f"data/{sid}"})
        img = nib.Nifti1Image(rng.normal(size=(4, 4, 3)).astype(np.float32), np.eye(4))
        nib.save(img, data / f"{sid}.nii.gz")
        nib.save(img, data / f"{sid}_label.nii")
        label = f"data/{sid}_label.nii" if sid != ids[5] else ""  # optional column
        brain_rows.append({"sample_id": sid, "path": f"data/{sid}.nii.gz", "label_path": label})
    inputs = {
        "genotypes": str(geno["root"] / "chr{chrom}"),
        "samples": str(_write(inputs_dir / "samples.tsv", samples)),
        "diagnoses": str(_write(inputs_dir / "diagnoses.tsv", diag)),
        "manifests": {
            "ecg": str(_write(inputs_dir / "ecg.manifest.tsv", pd.DataFrame(ecg_rows))),
            "brain": str(_write(inputs_dir / "brain.manifest.tsv", pd.DataFrame(brain_rows))),
        },
    }
    return {"inputs": inputs, "dir": inputs_dir, "samples": samples, "out": tmp_path / "out"}


# 6 Mb of coalescent genome give kinship too noisy to call relatives (unrelated pairs above
# 0.177): the relatedness tests below use unlinked variants
CFG = {"pca": {"n_pcs": 3}, "relatedness": {"enabled": False}}


def test_prepare_cohort_writes_checked_tables(geno, cohort):
    summary = prepare_cohort(cohort["inputs"], [1, 2], CFG, cohort["out"], seed=0)
    out = cohort["out"]
    assert sorted(p.name for p in out.iterdir()) == [
        "brain.manifest.tsv",
        "diagnoses.tsv",
        "ecg.manifest.tsv",
        "pca.tsv",
        "related_pairs.tsv",
        "related_removed.tsv",
        "samples.tsv",
    ]
    assert pd.read_csv(out / "related_removed.tsv", sep="\t").empty  # relatedness disabled
    s = pd.read_csv(out / "samples.tsv", sep="\t")
    assert s["sample_id"].tolist() == geno["ids"]  # .fam order
    src = cohort["samples"].set_index("sample_id").loc[geno["ids"]]
    assert (s["sex_male"].to_numpy() == (src["sex"] == "M").to_numpy()).all()
    np.testing.assert_allclose(s["bmi"], src["bmi"])
    assert [c for c in s.columns if c.startswith("PC")] == ["PC1", "PC2", "PC3"]
    d = pd.read_csv(out / "diagnoses.tsv", sep="\t")
    assert d["icd10"].tolist() == ["I48.0", "I10", "G30.1"]
    b = pd.read_csv(out / "brain.manifest.tsv", sep="\t")
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in b["path"])
    assert all(Path(p).is_file() for p in b["label_path"][:5]) and pd.isna(b["label_path"][5])
    e = pd.read_csv(out / "ecg.manifest.tsv", sep="\t")
    assert all(Path(p + ".hea").is_file() for p in e["path"])
    pca = pd.read_csv(out / "pca.tsv", sep="\t")
    assert list(pca.columns) == [
        "component",
        "eigenvalue",
        "variance_explained",
        "n_variants",
        "n_fit",
    ]
    assert summary["n_samples"] == len(geno["ids"]) and summary["manifests"] == {
        "ecg": 6,
        "brain": 6,
    }


def _assert_nothing_written(cohort):
    assert not cohort["out"].exists() or not any(cohort["out"].iterdir())


def test_unmatched_ids_stop_or_are_dropped(geno, cohort):
    inputs = cohort["inputs"]
    extra = pd.DataFrame({"sample_id": ["NEW1", "NEW2"], "age": [50, 60], "sex": ["F", "M"]})
    samples = pd.concat([cohort["samples"], extra])
    _write(Path(inputs["samples"]), samples)
    man = pd.read_csv(inputs["manifests"]["ecg"], sep="\t")
    man.loc[len(man)] = ["NEW1", man["path"].iloc[0]]
    _write(Path(inputs["manifests"]["ecg"]), man)
    diag = pd.DataFrame({"sample_id": ["NEW2", geno["ids"][0]], "icd10": ["I10", "I10"]})
    _write(Path(inputs["diagnoses"]), diag)
    with pytest.raises(InputError) as err:
        prepare_cohort(inputs, [1, 2], CFG, cohort["out"], seed=0)
    msg = str(err.value)
    assert "2 sample ids not in the genotypes (NEW1, NEW2)" in msg
    assert "ecg manifest" in msg and "1 sample ids not in the genotypes (NEW1)" in msg
    _assert_nothing_written(cohort)
    cfg = {**CFG, "drop_unmatched_samples": True}
    summary = prepare_cohort(inputs, [1, 2], cfg, cohort["out"], seed=0)
    assert summary["n_samples"] == len(geno["ids"])
    assert summary["n_diagnoses_dropped"] == 1
    assert sorted(summary["n_unmatched_dropped"].values()) == [0, 1, 2]
    out = pd.read_csv(cohort["out"] / "ecg.manifest.tsv", sep="\t")
    assert "NEW1" not in set(out["sample_id"])


def test_manifest_sample_missing_from_samples_table(geno, cohort):
    inputs = cohort["inputs"]
    _write(Path(inputs["samples"]), cohort["samples"][cohort["samples"]["sample_id"] != "S0002"])
    with pytest.raises(InputError, match=r"ecg manifest .*1 sample ids are not in .*S0002"):
        prepare_cohort(inputs, [1, 2], CFG, cohort["out"], seed=0)
    _assert_nothing_written(cohort)


def test_missing_manifest_file_named(cohort):
    (cohort["dir"] / "data" / "S0003_label.nii").unlink()
    with pytest.raises(InputError) as err:
        prepare_cohort(cohort["inputs"], [1, 2], CFG, cohort["out"], seed=0)
    msg = str(err.value)
    assert "brain manifest" in msg and "1 of 11 files" in msg
    assert "sample S0003, column 'label_path'" in msg and "S0003_label.nii: does not exist" in msg
    _assert_nothing_written(cohort)


def test_corrupt_nifti_and_wfdb_named(cohort):
    (cohort["dir"] / "data" / "S0001.nii.gz").write_bytes(b"not a nifti at all" * 10)
    with pytest.raises(
        InputError, match=r"sample S0001, column 'path': .*S0001.nii.gz: cannot be read as NIfTI"
    ):
        prepare_cohort(cohort["inputs"], [1, 2], CFG, cohort["out"], seed=0)
    _assert_nothing_written(cohort)
    # existence-only check lets it through
    prepare_cohort(cohort["inputs"], [1, 2], {**CFG, "check_files": False}, cohort["out"], seed=0)
    dat = cohort["dir"] / "data" / "S0004.dat"
    dat.write_bytes(dat.read_bytes()[:100])
    assert "truncated WFDB signal file" in check_file(str(cohort["dir"] / "data" / "S0004"))
    (cohort["dir"] / "data" / "S0005.hea").write_text("garbage header\n")
    assert "cannot be read" in check_file(str(cohort["dir"] / "data" / "S0005"))
    assert check_file(str(cohort["dir"] / "data" / "S0000")) is None


def test_differing_fam_named(geno, cohort, tmp_path):
    gdir = tmp_path / "g"
    shutil.copytree(geno["root"], gdir)
    fam = (gdir / "chr2.fam").read_text().splitlines()
    fam[5] = fam[5].replace("S0005", "S9999")
    (gdir / "chr2.fam").write_text("\n".join(fam) + "\n")
    inputs = {**cohort["inputs"], "genotypes": str(gdir / "chr{chrom}")}
    with pytest.raises(InputError, match=r"chr2\.fam differs from .*chr1\.fam.*first line 6"):
        prepare_cohort(inputs, [1, 2], CFG, cohort["out"], seed=0)
    with pytest.raises(InputError, match=r"chr3\.bed"):
        prepare_cohort(inputs, [1, 2, 3], CFG, cohort["out"], seed=0)
    _assert_nothing_written(cohort)


def test_bad_table_stops_before_anything(cohort):
    path = Path(cohort["inputs"]["samples"])
    text = path.read_text().splitlines()
    cells = text[3].split("\t")
    cells[1] = "abc"
    text[3] = "\t".join(cells)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(InputError, match=rf"line 4 \(sample_id {cells[0]}\), column 'age'"):
        prepare_cohort(cohort["inputs"], [1, 2], CFG, cohort["out"], seed=0)
    _assert_nothing_written(cohort)


def test_cli(cohort, capsys):
    inputs = cohort["inputs"]
    argv = [
        "cohort",
        "--samples",
        inputs["samples"],
        "--diagnoses",
        inputs["diagnoses"],
        "--genotypes",
        inputs["genotypes"],
        "--manifest",
        f"ecg={inputs['manifests']['ecg']}",
        "--chromosomes",
        "1-2",
        "--out",
        str(cohort["out"]),
        "--n-pcs",
        "2",
        "--seed",
        "4",
    ]
    assert cli.main(argv) == 0
    s = pd.read_csv(cohort["out"] / "samples.tsv", sep="\t")
    assert "PC2" in s.columns and "PC3" not in s.columns
    assert cli.main([*argv[:-8], "--chromosomes", "1-3", "--out", str(cohort["out"])]) == 2
    assert "chr3" in capsys.readouterr().err
    assert parse_chromosomes("1-3,X") == ["1", "2", "3", "X"]


def test_file_checks_in_processes_name_the_bad_file(tmp_path):
    """The multi-process check (threads > 1, >= 200 files) reports like the serial one."""
    from regwas.cohort.checks import check_manifest_files

    for i in range(210):
        (tmp_path / f"f{i}.bin").write_bytes(b"x" if i != 123 else b"")
    man = pd.DataFrame(
        {
            "sample_id": [f"S{i}" for i in range(210)],
            "path": [str(tmp_path / f"f{i}.bin") for i in range(210)],
        }
    )
    for threads in (1, 2):
        with pytest.raises(
            InputError,
            match=r"1 of 210 files .*\n  sample S123, column 'path': .*f123\.bin: file is empty",
        ):
            check_manifest_files(man, "dxa", "dxa.manifest.tsv", deep=True, threads=threads)


def test_bad_config_key_named(cohort):
    with pytest.raises(InputError, match=r"key 'cohort_qc\.pca\.prune': 'fast' is not one of"):
        prepare_cohort(cohort["inputs"], [1, 2], {"pca": {"prune": "fast"}}, cohort["out"], seed=0)


def test_truncated_nifti_gz_fails_at_the_cohort_stage(cohort):
    """The header of a cut .nii.gz reads; the cohort stage still names it (gzip size)."""
    import gzip

    data = cohort["dir"] / "data"
    voxels = np.random.default_rng(2).normal(size=(30, 30, 20)).astype(np.float32)
    nib.save(nib.Nifti1Image(voxels, np.eye(4)), data / "S0002.nii.gz")
    whole = (data / "S0002.nii.gz").read_bytes()
    (data / "S0002.nii.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"sample S0002, column 'path': .*truncated \.nii\.gz"):
        prepare_cohort(cohort["inputs"], [1, 2], CFG, cohort["out"], seed=0)
    _assert_nothing_written(cohort)
    raw = gzip.decompress(whole)  # a whole file in two gzip members is whole
    (data / "S0002.nii.gz").write_bytes(gzip.compress(raw[:100]) + gzip.compress(raw[100:]))
    assert check_file(str(data / "S0002.nii.gz")) is None
    (data / "S0002.nii.gz").write_bytes(gzip.compress(raw[:-8]))  # whole gzip, too few voxels
    assert "truncated .nii.gz" in check_file(str(data / "S0002.nii.gz"))


def test_ecg_rates_and_lead_sets_are_checked_and_all_reported(cohort):
    """A record at another sampling rate and one with fewer leads: both named at once."""
    data = cohort["dir"] / "data"
    rng = np.random.default_rng(1)
    for sid, fs, leads in (("S0003", 50, ["I", "II"]), ("S0004", 100, ["I"])):
        wfdb.wrsamp(
            sid,
            fs=fs,
            units=["mV"] * len(leads),
            sig_name=leads,
            p_signal=rng.normal(size=(200, len(leads))),
            fmt=["16"] * len(leads),
            write_dir=str(data),
        )
    with pytest.raises(InputError) as err:
        prepare_cohort(cohort["inputs"], [1, 2], CFG, cohort["out"], seed=0)
    msg = str(err.value)
    assert "ecg manifest" in msg and "2 of 6 files" in msg
    assert "sample S0003, column 'path'" in msg and "50 Hz, 200 samples, 2 leads" in msg
    assert "sample S0004, column 'path'" in msg and "1 leads (I)" in msg
    assert "the other records have 100 Hz, 200 samples, 2 leads (I,II)" in msg
    _assert_nothing_written(cohort)


def test_bed_sizes_are_checked_first_and_every_chromosome_reported(geno, cohort, tmp_path):
    """Broken .bed files are named before any ECG header is read, all chromosomes at once."""
    gdir = tmp_path / "g"
    shutil.copytree(geno["root"], gdir)
    bed1 = (gdir / "chr1.bed").read_bytes()
    (gdir / "chr1.bed").write_bytes(bed1[:-7])
    (gdir / "chr2.bed").write_bytes(b"\x00\x00\x00" + (gdir / "chr2.bed").read_bytes()[3:])
    (cohort["dir"] / "data" / "S0005.hea").write_text("garbage header\n")
    inputs = {**cohort["inputs"], "genotypes": str(gdir / "chr{chrom}")}
    with pytest.raises(InputError) as err:
        prepare_cohort(inputs, [1, 2], CFG, cohort["out"], seed=0)
    msg = str(err.value)
    assert "2 of 2 chromosome file sets" in msg and "S0005" not in msg
    assert f"chr1.bed: {len(bed1) - 7} bytes, expected {len(bed1)}" in msg
    assert "chr2.bed: not a PLINK 1 .bed file" in msg
    _assert_nothing_written(cohort)


def test_duplicate_variant_ids_in_a_bim_are_refused(geno, tmp_path):
    lines = (geno["root"] / "chr1.bim").read_text().splitlines()
    lines[4] = lines[4].replace(lines[4].split()[1], lines[2].split()[1])
    (tmp_path / "dup.bim").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"dup\.bim: 1 variant ids occur more than once \(line 3"):
        read_bim(tmp_path / "dup.bim")


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed (make system)")
@pytest.mark.parametrize("fmt", ["pgen", "bgen"])
def test_pgen_and_bgen_inputs_give_the_bed_cohort(geno, cohort, tmp_path, fmt):
    """The cohort's genotypes converted by plink2 to .pgen / 8-bit BGEN (REF first) give the
    same samples table and genetic PCs as the .bed; chromosomes listing other samples are
    named."""
    import subprocess

    if fmt == "bgen":
        pytest.importorskip("bgen")
    gdir = tmp_path / fmt
    gdir.mkdir()
    for c in ("1", "2"):
        conv = ["--make-pgen"] if fmt == "pgen" else ["--export", "bgen-1.2", "bits=8", "ref-first"]
        subprocess.run(
            ["plink2", "--threads", "1", "--bfile", str(geno["root"] / f"chr{c}"), *conv]
            + ["--out", str(gdir / f"chr{c}")],
            check=True,
            capture_output=True,
        )
    ref = prepare_cohort(cohort["inputs"], [1, 2], CFG, tmp_path / "ref", seed=0)
    inputs = {**cohort["inputs"], "genotypes": str(gdir / "chr{chrom}")}
    got = prepare_cohort(inputs, [1, 2], CFG, tmp_path / "got", seed=0)
    assert got["n_samples"] == ref["n_samples"]
    for name in ("samples.tsv", "pca.tsv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "got" / name, sep="\t"),
            pd.read_csv(tmp_path / "ref" / name, sep="\t"),
        )
    sample_file = gdir / ("chr2.psam" if fmt == "pgen" else "chr2.sample")
    text = sample_file.read_text().replace("S0005", "S9999")
    sample_file.write_text(text)
    with pytest.raises(InputError, match=rf"chr2\.{sample_file.suffix[1:]}: .*differ from .*chr1"):
        prepare_cohort(inputs, [1, 2], CFG, tmp_path / "bad", seed=0)
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_drop_unmatched_samples_covers_manifest_rows(geno, cohort):
    """A manifest row whose sample is not in the samples table stops the stage (naming the
    option) or, with drop_unmatched_samples, is dropped and counted."""
    inputs = cohort["inputs"]
    _write(Path(inputs["samples"]), cohort["samples"][cohort["samples"]["sample_id"] != "S0002"])
    with pytest.raises(InputError, match="drop_unmatched_samples"):
        prepare_cohort(inputs, [1, 2], CFG, cohort["out"], seed=0)
    _assert_nothing_written(cohort)
    cfg = {**CFG, "drop_unmatched_samples": True}
    summary = prepare_cohort(inputs, [1, 2], cfg, cohort["out"], seed=0)
    assert summary["n_manifest_rows_without_sample"] == {"ecg": 1, "brain": 1}
    for mod in ("ecg", "brain"):
        out = pd.read_csv(cohort["out"] / f"{mod}.manifest.tsv", sep="\t")
        assert out["sample_id"].tolist() == [s for s in geno["ids"][:6] if s != "S0002"]
    assert "S0002" not in set(pd.read_csv(cohort["out"] / "samples.tsv", sep="\t")["sample_id"])


def test_ecg_rate_and_leads_checked_against_the_config(cohort):
    """cohort_qc.ecg_fs / ecg_leads: records that agree with each other but not with the config
    are named (every one, with what they have and what the config says); matching values pass."""
    cfg = {**CFG, "ecg_fs": 500, "ecg_leads": ["I", "II", "III"]}
    with pytest.raises(InputError) as err:
        prepare_cohort(cohort["inputs"], [1, 2], cfg, cohort["out"], seed=0)
    msg = str(err.value)
    assert "ecg manifest" in msg and "6 of 6 files" in msg
    assert "sample S0000, column 'path'" in msg
    assert "100 Hz, but cohort_qc.ecg_fs is 500 Hz" in msg
    assert "leads (I,II), but cohort_qc.ecg_leads is (I,II,III)" in msg
    _assert_nothing_written(cohort)
    cfg = {**CFG, "ecg_fs": 100, "ecg_leads": ["I", "II"]}
    summary = prepare_cohort(cohort["inputs"], [1, 2], cfg, cohort["out"], seed=0)
    assert summary["manifests"]["ecg"] == 6


# --------------------------------------------------------------------------- relatives


@pytest.fixture
def related(geno, cohort):
    """Unlinked genotypes (2 x 1,500 variants, HWE within the three populations, 0.3% missing)
    of the cohort's people with planted relatives (.fam positions): person 20 the child of 5
    and 6 (one allele transmitted from each parent per variant), person 30 a duplicate of
    person 3 with 0.5% discordant calls."""
    from bed_reader import to_bed

    rng = np.random.default_rng(5)
    root = cohort["dir"] / "related"
    root.mkdir()
    pops = geno["pops"]
    n = len(pops)
    assert pops[5] == pops[6] == pops[20] and pops[3] == pops[30]
    for chrom in (1, 2):
        m = 1500
        freq = np.clip(rng.uniform(0.05, 0.95, m) + rng.normal(0, 0.1, (3, m)), 0.02, 0.98)
        d = rng.binomial(2, freq[pops]).astype(np.float32)
        d[20] = (rng.random((2, m)) < d[[5, 6]] / 2).sum(axis=0)
        d[30] = d[3]
        flip = rng.random(m) < 0.005
        d[30, flip] = (d[30, flip] + 1) % 3
        d[rng.random(d.shape) < 0.003] = np.nan
        pos = np.arange(1, m + 1) * 1000
        to_bed(
            root / f"chr{chrom}.bed",
            d,
            properties={
                "fid": geno["ids"],
                "iid": geno["ids"],
                "chromosome": [str(chrom)] * m,
                "sid": [f"{chrom}:{p}" for p in pos],
                "bp_position": pos,
                "allele_1": ["A"] * m,
                "allele_2": ["G"] * m,
            },
            count_A1=True,
        )
    assert n == len(geno["ids"])
    inputs = {**cohort["inputs"], "genotypes": str(root / "chr{chrom}")}
    diag = pd.DataFrame({"sample_id": [geno["ids"][20], geno["ids"][1]], "icd10": ["I10", "I10"]})
    _write(Path(inputs["diagnoses"]), diag)
    return inputs


REL_CFG = {"pca": {"n_pcs": 3}}  # relatedness at its defaults (king_cutoff 0.0884)


def test_planted_relatives_are_removed_from_every_table(geno, cohort, related):
    ids = geno["ids"]
    summary = prepare_cohort(related, [1, 2], REL_CFG, cohort["out"], seed=0)
    out = cohort["out"]
    removed = pd.read_csv(out / "related_removed.tsv", sep="\t")
    # plink2's greedy rule, in its order: the partner of the first person with one relative
    # (3: the duplicate 30), then of the next (5: the child 20, with 2 relatives), so the trio
    # loses the child and keeps both parents
    assert removed["sample_id"].tolist() == [ids[30], ids[20]]
    assert removed["n_related"].tolist() == [1, 2]
    assert removed["related_to"].iloc[0] == ids[3]
    assert removed["kinship"].iloc[0] > 0.45
    assert 0.18 < removed["kinship"].iloc[1] < 0.32
    pairs = pd.read_csv(out / "related_pairs.tsv", sep="\t")
    strong = pairs[pairs["kinship"] > 0.0884]
    assert {frozenset(p) for p in zip(strong.sample_id_1, strong.sample_id_2, strict=True)} == {
        frozenset((ids[5], ids[20])),
        frozenset((ids[6], ids[20])),
        frozenset((ids[3], ids[30])),
    }
    samples = pd.read_csv(out / "samples.tsv", sep="\t")
    assert samples["sample_id"].tolist() == [s for i, s in enumerate(ids) if i not in (20, 30)]
    assert ids[20] not in set(pd.read_csv(out / "diagnoses.tsv", sep="\t")["sample_id"])
    assert pd.read_csv(out / "pca.tsv", sep="\t")["n_fit"].iloc[0] == len(ids) - 2
    # the removed are projected onto the PCs of the unrelated: a duplicate lands on its twin
    twin = samples.set_index("sample_id").loc[ids[3], ["PC1", "PC2", "PC3"]].to_numpy()
    dup = removed.set_index("sample_id").loc[ids[30], ["PC1", "PC2", "PC3"]].to_numpy()
    assert np.abs(dup[:2] - twin[:2]).max() < 0.25 * np.abs(twin[:2]).max() + 0.05
    assert summary["n_related_removed"] == 2 and summary["n_samples"] == len(ids) - 2


def test_keep_file_replaces_kinship_and_unknown_ids_stop(geno, cohort, related):
    ids = geno["ids"]
    keep = cohort["dir"] / "unrelated.txt"
    keep.write_text("#FID IID\n" + "".join(f"{s} {s}\n" for s in ids if s != ids[7]))
    cfg = {**REL_CFG, "relatedness": {"keep_file": str(keep)}}
    prepare_cohort(related, [1, 2], cfg, cohort["out"], seed=0)
    removed = pd.read_csv(cohort["out"] / "related_removed.tsv", sep="\t")
    assert removed["sample_id"].tolist() == [ids[7]]
    shutil.rmtree(cohort["out"])
    keep.write_text("\n".join([*ids, "NOBODY"]) + "\n")
    with pytest.raises(
        InputError,
        match=r"keep_file .*unrelated\.txt: 1 sample ids are not in the genotypes .*NOBODY",
    ):
        prepare_cohort(related, [1, 2], cfg, cohort["out"], seed=0)
    _assert_nothing_written(cohort)


def test_unknown_build_stops_before_anything_is_written(cohort):
    with pytest.raises(InputError, match=r"cohort_qc\.pca\.build: unknown genome build 'hg38'"):
        prepare_cohort(cohort["inputs"], [1, 2], {"pca": {"build": "hg38"}}, cohort["out"], 0)
    _assert_nothing_written(cohort)


def _with_x(geno, cohort, tmp_path, sex_of=None) -> dict:
    """The cohort's genotypes with the .fam sex from its samples table (``sex_of`` overrides
    some) and a chrX file set (chr2's genotypes relabelled X)."""
    gdir = tmp_path / "gx"
    shutil.copytree(geno["root"], gdir)
    for ext in ("bed", "fam"):
        shutil.copy(gdir / f"chr2.{ext}", gdir / f"chrX.{ext}")
    bim = (gdir / "chr2.bim").read_text().splitlines()
    (gdir / "chrX.bim").write_text("".join("X" + line[1:] + "\n" for line in bim))
    sex = cohort["samples"].set_index("sample_id")["sex"].map({"M": "1", "F": "2"})
    sex.update(pd.Series(sex_of or {}, dtype=str))
    for c in ("1", "2", "X"):
        fam = pd.read_csv(gdir / f"chr{c}.fam", sep=r"\s+", header=None, dtype=str)
        fam[4] = sex.loc[fam[1]].to_numpy()
        fam.to_csv(gdir / f"chr{c}.fam", sep=" ", header=False, index=False)
    return {**cohort["inputs"], "genotypes": str(gdir / "chr{chrom}")}


def test_chrx_left_out_of_pcs_and_fam_sex_checked(geno, cohort, tmp_path):
    """With X among the chromosomes the genetic PCs come from the autosomes only (identical to
    a run without X), and a .fam sex that contradicts the samples table stops the run naming the
    person; 0 (unknown) is allowed."""
    prepare_cohort(cohort["inputs"], [1, 2], CFG, tmp_path / "auto", seed=0)
    first = cohort["samples"]["sample_id"].iloc[0]
    inputs = _with_x(geno, cohort, tmp_path, {first: "0"})
    prepare_cohort(inputs, [1, 2, "X"], CFG, cohort["out"], seed=0)
    for name in ("pca.tsv", "samples.tsv"):
        a = pd.read_csv(tmp_path / "auto" / name, sep="\t")
        b = pd.read_csv(cohort["out"] / name, sep="\t")
        pd.testing.assert_frame_equal(a, b)
    shutil.rmtree(cohort["out"])
    wrong = cohort["samples"].iloc[3]
    flip = {wrong["sample_id"]: "2" if wrong["sex"] == "M" else "1"}
    inputs = _with_x(geno, cohort, tmp_path / "w", flip)
    with pytest.raises(InputError, match=rf"chr1\.fam: the sex of 1 people .*{wrong['sample_id']}"):
        prepare_cohort(inputs, [1, 2, "X"], CFG, cohort["out"], seed=0)
    with pytest.raises(InputError, match="need at least one autosome"):
        prepare_cohort(_with_x(geno, cohort, tmp_path / "o"), ["X"], CFG, cohort["out"], seed=0)

"""Bad inputs against every subcommand: exit status 2, one line naming the file and the
problem, nothing left in the output path. The corpus is generated here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from regwas.cli import main
from regwas.io.arraystore import ArrayStoreWriter
from regwas.io.embeddings import write_embeddings

N = 60


def _bed(prefix: Path, n: int, m: int, rng: np.random.Generator) -> None:
    """A PLINK 1 file set of n people x m variants (ALT counts 0..2, SNP-major)."""
    ids = [f"S{i:03d}" for i in range(n)]
    fam = "".join(f"{s} {s} 0 0 {1 + i % 2} -9\n" for i, s in enumerate(ids))
    prefix.with_suffix(".fam").write_text(fam)
    bim = "".join(f"1\t1:{1000 * (j + 1)}:A:G\t0\t{1000 * (j + 1)}\tG\tA\n" for j in range(m))
    prefix.with_suffix(".bim").write_text(bim)
    codes = {0: 0b11, 1: 0b10, 2: 0b00}  # A1 = ALT count: 11 hom A1... as plink: 00 hom A1
    out = bytearray(b"\x6c\x1b\x01")
    for _ in range(m):
        g = rng.integers(0, 3, n)
        row = bytearray((n + 3) // 4)
        for i, x in enumerate(g):
            row[i // 4] |= codes[int(x)] << (2 * (i % 4))
        out += row
    prefix.with_suffix(".bed").write_bytes(bytes(out))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    ids = [f"S{i:03d}" for i in range(N)]
    z = rng.normal(size=(N, 3))
    write_embeddings(ids, z, d / "emb.parquet")
    write_embeddings([], np.zeros((0, 3)), d / "empty.parquet")
    z_nan = z.copy()
    z_nan[7, 1] = np.nan
    write_embeddings(ids, z_nan, d / "nan.parquet")
    pq.write_table(
        pa.table({"sample_id": ids, "z000": z[:, 0], "z001": [str(v) for v in z[:, 1]]}),
        d / "text.parquet",
    )
    (d / "notparquet.parquet").write_text("this is not parquet\n")
    samples = pd.DataFrame(
        {
            "sample_id": ids,
            "age": rng.integers(40, 80, N),
            "sex": rng.choice(["F", "M"], N),
            "sex_male": rng.integers(0, 2, N),
            "bmi": rng.normal(27, 3, N),
            "height": rng.normal(170, 10, N),
        }
    )
    samples.to_csv(d / "samples.tsv", sep="\t", index=False)
    samples.to_csv(d / "samples.csv", index=False)
    (d / "keep.txt").write_text("\n".join([*ids[:50], "NOBODY"]) + "\n")
    samples.iloc[:10].to_csv(d / "few.tsv", sep="\t", index=False)
    pd.DataFrame({"sample_id": ids[:5], "icd10": ["I10"] * 5}).to_csv(
        d / "diagnoses.tsv", sep="\t", index=False
    )
    _bed(d / "geno", N, 40, rng)
    for ext in ("bed", "bim", "fam"):  # a per-chromosome file set for the cohort stage
        (d / f"chr1.{ext}").write_bytes((d / f"geno.{ext}").read_bytes())
    for ext in ("fam", "bim"):
        (d / f"trunc.{ext}").write_bytes((d / f"geno.{ext}").read_bytes())
    (d / "trunc.bed").write_bytes((d / "geno.bed").read_bytes()[:-5])
    for ext in ("fam", "bed"):
        (d / f"dup.{ext}").write_bytes((d / f"geno.{ext}").read_bytes())
    bim = (d / "geno.bim").read_text().splitlines()
    bim[3] = bim[3].replace("1:4000:A:G", "1:2000:A:G")
    (d / "dup.bim").write_text("\n".join(bim) + "\n")
    (d / "mine").mkdir()
    (d / "mine" / "important.txt").write_text("keep")
    (d / "sim.yaml").write_text("seed: 1\nsimulate: {n_samples: 20}\n")
    with ArrayStoreWriter(d / "nanstore", (4, 5), N) as store:
        for i, sid in enumerate(ids):
            row = rng.normal(size=(4, 5))
            row[2, 3] = np.nan if i == 11 else row[2, 3]
            store.append(sid, row)
    (d / "dup.manifest.tsv").write_text("sample_id\tpath\nS000\tecg/S000\nS000\tecg/S001\n")
    (d / "empty_dx.tsv").write_text("sample_id\ticd10\n")
    (d / "bad_dx.tsv").write_text("sample_id\ticd10\nS000\tI10\n\nS001\tI1O\n")
    (d / "ecg.manifest.tsv").write_text("sample_id\tpath\nS000\tecg/S000\n")
    return d


def _out(d: Path) -> Path:
    return d / "out" / "result.tsv"


# (name, argv from the corpus folder and the output path, the file the message names, problem)
CASES: list[tuple[str, Callable[[Path, Path], list[str]], str, str]] = [
    (
        "probe: missing embeddings",
        lambda d, o: [
            "probe",
            "--embeddings",
            f"{d}/nope.parquet",
            "--samples",
            f"{d}/samples.tsv",
            "--out",
            str(o),
        ],
        "nope.parquet",
        "does not exist",
    ),
    (
        "probe: not Parquet",
        lambda d, o: [
            "probe",
            "--embeddings",
            f"{d}/notparquet.parquet",
            "--samples",
            f"{d}/samples.tsv",
            "--out",
            str(o),
        ],
        "notparquet.parquet",
        "cannot be read as Parquet",
    ),
    (
        "probe: empty Parquet",
        lambda d, o: [
            "probe",
            "--embeddings",
            f"{d}/empty.parquet",
            "--samples",
            f"{d}/samples.tsv",
            "--out",
            str(o),
        ],
        "empty.parquet",
        "no rows",
    ),
    (
        "probe: text column",
        lambda d, o: [
            "probe",
            "--embeddings",
            f"{d}/text.parquet",
            "--samples",
            f"{d}/samples.tsv",
            "--out",
            str(o),
        ],
        "text.parquet",
        "must hold numbers",
    ),
    (
        "probe: NaN",
        lambda d, o: [
            "probe",
            "--embeddings",
            f"{d}/nan.parquet",
            "--samples",
            f"{d}/samples.tsv",
            "--out",
            str(o),
        ],
        "nan.parquet",
        "S007",
    ),
    (
        "probe: too many folds",
        lambda d, o: [
            "probe",
            "--embeddings",
            f"{d}/emb.parquet",
            "--samples",
            f"{d}/samples.tsv",
            "--out",
            str(o),
            "--folds",
            "5000",
        ],
        "--folds",
        "60 people",
    ),
    (
        "adjust: unknown ids",
        lambda d, o: [
            "adjust",
            "--embeddings",
            f"{d}/emb.parquet",
            "--samples",
            f"{d}/few.tsv",
            "--out",
            str(o.with_suffix(".parquet")),
        ],
        "few.tsv",
        "not in the samples table",
    ),
    (
        "adjust: comma-separated samples",
        lambda d, o: [
            "adjust",
            "--embeddings",
            f"{d}/emb.parquet",
            "--samples",
            f"{d}/samples.csv",
            "--out",
            str(o.with_suffix(".parquet")),
        ],
        "samples.csv",
        "separated",
    ),
    (
        "gwas: truncated .bed",
        lambda d, o: [
            "gwas",
            "--embeddings",
            f"{d}/emb.parquet",
            "--bfile",
            f"{d}/trunc",
            "--out",
            str(o.with_suffix(".tsv.gz")),
        ],
        "trunc.bed",
        "bytes, expected",
    ),
    (
        "gwas: duplicate variant ids",
        lambda d, o: [
            "gwas",
            "--embeddings",
            f"{d}/emb.parquet",
            "--bfile",
            f"{d}/dup",
            "--out",
            str(o.with_suffix(".tsv.gz")),
        ],
        "dup.bim",
        "more than once",
    ),
    (
        "gwas: missing file set",
        lambda d, o: [
            "gwas",
            "--embeddings",
            f"{d}/emb.parquet",
            "--bfile",
            f"{d}/none",
            "--out",
            str(o.with_suffix(".tsv.gz")),
        ],
        "none.bed",
        "missing",
    ),
    (
        "embed: no store",
        lambda d, o: ["embed", f"{d}/nostore", "--out", str(o.with_suffix(".parquet"))],
        "nostore",
        "does not exist",
    ),
    (
        "phewas: comma-separated samples",
        lambda d, o: [
            "phewas",
            "--embeddings",
            f"{d}/emb.parquet",
            "--samples",
            f"{d}/samples.csv",
            "--diagnoses",
            f"{d}/diagnoses.tsv",
            "--out",
            str(o),
        ],
        "samples.csv",
        "separated",
    ),
    (
        "median-beat: no record",
        lambda d, o: ["median-beat", f"{d}/norecord", "--out", str(o.with_suffix(".npy"))],
        "norecord.hea",
        "does not exist",
    ),
    (
        "plot manhattan: no summary statistics",
        lambda d, o: ["plot", "manhattan", "--gwas", f"{d}/none.tsv.gz", "--out", str(o)],
        "none.tsv.gz",
        "does not exist",
    ),
    (
        "cohort: comma-separated samples",
        lambda d, o: [
            "cohort",
            "--samples",
            f"{d}/samples.csv",
            "--diagnoses",
            f"{d}/diagnoses.tsv",
            "--genotypes",
            f"{d}/chr{{chrom}}",
            "--chromosomes",
            "1",
            "--out",
            str(o.parent),
        ],
        "samples.csv",
        "looks ','-separated",
    ),
    (
        "adjust: the raw samples table",
        lambda d, o: [
            "adjust",
            "--embeddings",
            f"{d}/emb.parquet",
            "--samples",
            f"{d}/samples.tsv",
            "--out",
            str(o.with_suffix(".parquet")),
        ],
        "samples.tsv",
        "run `regwas cohort` first",
    ),
    (
        "gwas: the raw samples table as covariates",
        lambda d, o: [
            "gwas",
            "--embeddings",
            f"{d}/emb.parquet",
            "--bfile",
            f"{d}/geno",
            "--covariates",
            f"{d}/samples.tsv",
            "--out",
            str(o.with_suffix(".tsv.gz")),
        ],
        "samples.tsv",
        "raw samples table",
    ),
    (
        "store: missing manifest",
        lambda d, o: [
            "store",
            "--manifest",
            f"{d}/none.manifest.tsv",
            "--modality",
            "ecg",
            "--space",
            "native",
            "--out",
            str(o.parent),
        ],
        "none.manifest.tsv",
        "does not exist",
    ),
    (
        "store: a record that is not there",
        lambda d, o: [
            "store",
            "--manifest",
            f"{d}/ecg.manifest.tsv",
            "--modality",
            "ecg",
            "--space",
            "native",
            "--out",
            str(o.parent),
        ],
        "ecg/S000.hea",
        "does not exist",
    ),
    (
        "phewas: empty diagnoses (as cohort says)",
        lambda d, o: [
            "phewas",
            "--embeddings",
            f"{d}/emb.parquet",
            "--samples",
            f"{d}/samples.tsv",
            "--diagnoses",
            f"{d}/empty_dx.tsv",
            "--out",
            str(o),
        ],
        "empty_dx.tsv",
        "the table has a header but no data rows",
    ),
    (
        "phewas: a bad ICD-10 code by file line and sample",
        lambda d, o: [
            "phewas",
            "--embeddings",
            f"{d}/emb.parquet",
            "--samples",
            f"{d}/samples.tsv",
            "--diagnoses",
            f"{d}/bad_dx.tsv",
            "--out",
            str(o),
        ],
        "bad_dx.tsv",
        "line 4 (sample_id S001), column 'icd10': 'I1O' is not a WHO ICD-10 code",
    ),
    (
        "embed: NaN in a store, by file and sample",
        lambda d, o: ["embed", f"{d}/nanstore", "--out", str(o.with_suffix(".parquet"))],
        "nanstore/data.npy",
        "samples S011 hold NaN",
    ),
    (
        "store: a duplicated sample in the manifest",
        lambda d, o: [
            "store",
            "--manifest",
            f"{d}/dup.manifest.tsv",
            "--modality",
            "ecg",
            "--space",
            "median_beat",
            "--out",
            str(o.parent),
        ],
        "dup.manifest.tsv",
        "line 3 (sample_id S000), column 'sample_id': duplicate sample_id 'S000'",
    ),
    (
        "cohort: unknown genome build",
        lambda d, o: [
            "cohort",
            *("--samples", f"{d}/samples.tsv", "--diagnoses", f"{d}/diagnoses.tsv"),
            *("--genotypes", f"{d}/chr{{chrom}}", "--chromosomes", "1"),
            *("--build", "hg19", "--out", str(o.parent)),
        ],
        "cohort_qc.pca.build",
        "unknown genome build 'hg19'",
    ),
    (
        "cohort: keep list with an unknown id",
        lambda d, o: [
            "cohort",
            *("--samples", f"{d}/samples.tsv", "--diagnoses", f"{d}/diagnoses.tsv"),
            *("--genotypes", f"{d}/chr{{chrom}}", "--chromosomes", "1"),
            *("--keep", f"{d}/keep.txt", "--out", str(o.parent)),
        ],
        "keep.txt",
        "1 sample ids are not in the genotypes",
    ),
    (
        "simulate: a user's folder",
        lambda d, o: ["simulate", "--config", f"{d}/sim.yaml", "--out", f"{d}/mine"],
        "mine",
        "not empty",
    ),
]


@pytest.mark.parametrize(
    ("argv", "names", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(
    corpus, tmp_path, capsys, argv, names, problem
):
    out = _out(tmp_path)
    code = main(argv(corpus, out))
    err = capsys.readouterr().err
    assert code == 2, err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    assert names in errors[0] and problem in errors[0], errors[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert (corpus / "mine" / "important.txt").read_text() == "keep"

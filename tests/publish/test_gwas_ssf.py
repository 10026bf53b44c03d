"""GWAS-SSF: the converted summary statistics and metadata follow the format's rules (our
check, regwas.publish.gwas_ssf.check_gwas_ssf) and pass the GWAS Catalog's own validator
(gwas-sumstats-tools, `gwas-ssf validate`) when it is installed (`make ssf-validator`)."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from regwas.errors import InputError
from regwas.io.sumstats import SUMSTATS_COLUMNS
from regwas.io.tables import write_tsv
from regwas.publish.gwas_ssf import (
    MANDATORY,
    SSF_VERSION,
    check_gwas_ssf,
    chromosome_code,
    p_value_text,
    to_gwas_ssf,
    write_gwas_ssf,
)

ROOT = Path(__file__).resolve().parents[2]
META = {"trait": "latent space of ecg", "genome_assembly": "NR", "software": "regwas 0.1.0"}


def sumstats(chroms=range(1, 23), per_chrom: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in chroms:
        for i in range(per_chrom):
            nl = float(rng.exponential(1.0))
            rows.append(
                {
                    "chromosome": str(c),
                    "base_pair_location": 1000 * (i + 1),
                    "variant_id": f"{c}:{1000 * (i + 1)}:A:G",
                    "effect_allele": "G",
                    "other_allele": "A",
                    "effect_allele_frequency": float(rng.uniform(0.05, 0.95)),
                    "n": 300,
                    "pillai": 0.01,
                    "f_stat": 1.0,
                    "df1": 8,
                    "df2": 279,
                    "p_value": 10.0**-nl,
                    "neg_log10_p": nl,
                }
            )
    return pd.DataFrame(rows, columns=SUMSTATS_COLUMNS)


def write(tmp_path: Path, table: pd.DataFrame, name: str = "gwas_ssf.tsv.gz") -> Path:
    src = tmp_path / "gwas.tsv.gz"
    write_tsv(table, src)
    out, _ = write_gwas_ssf(src, tmp_path / name, {**META, "date": "2026-01-02"})
    return out


def test_columns_in_order_and_metadata(tmp_path):
    out = write(tmp_path, sumstats())
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns[:8]) == MANDATORY
    assert list(table.columns[8:10]) == ["variant_id", "n"]
    assert table["variant_id"].iloc[0] == "1_1000_A_G"
    meta = yaml.safe_load(Path(str(out) + "-meta.yaml").read_text())
    assert meta["file_type"] == SSF_VERSION
    assert meta["data_file_name"] == out.name
    assert meta["samples"] == [{"sample_size": 300}]
    assert meta["trait_description"] == ["latent space of ecg"]
    assert meta["analysis_software"] == "regwas 0.1.0"
    assert meta["genome_assembly"] == "NR"
    assert check_gwas_ssf(out, minimum_rows=1) == []


def test_chromosome_x_written_as_23_after_the_autosomes(tmp_path):
    """The GWAS writes chromosome X as X; GWAS-SSF codes it 23, and the file keeps the order of
    the merged summary statistics (X after 22) and passes the checks."""
    out = write(tmp_path, sumstats(chroms=[*range(1, 23), "X"]))
    table = pd.read_csv(out, sep="\t")
    assert table["chromosome"].iloc[-3:].tolist() == [23, 23, 23]
    assert table["chromosome"].is_monotonic_increasing
    assert check_gwas_ssf(out, minimum_rows=1) == []


def test_beta_over_se_reproduces_the_p_value():
    table = sumstats(per_chrom=5)
    ssf = to_gwas_ssf(table)
    z = ssf["beta"] / ssf["standard_error"]
    p = 2 * stats.norm.sf(z)
    np.testing.assert_allclose(p, table["p_value"], rtol=1e-9)
    assert (ssf["beta"] >= 0).all()


def test_p_values_below_the_float_range_stay_exact():
    assert p_value_text(np.array([400.0, 1234.5, 2.0])) == ["1e-400", "3.16228e-1235", "0.01"]


def test_chromosome_codes():
    assert [chromosome_code(c) for c in ("1", "chr22", "X", "Y", "MT")] == [1, 22, 23, 24, 25]
    with pytest.raises(InputError, match="GWAS-SSF"):
        chromosome_code("26")


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (lambda t: t[["base_pair_location", "chromosome", *t.columns[2:]]], "in order"),
        (lambda t: t.assign(effect_allele="N"), "effect_allele: 66 rows not a nucleotide"),
        (lambda t: t.assign(p_value="0"), "p_value: 66 rows not in (0, 1]"),
        (lambda t: t.assign(p_value="1.5"), "p_value: 66 rows not in (0, 1]"),
        (lambda t: t.assign(effect_allele_frequency=1.5), "not in [0, 1]"),
        (lambda t: t.assign(variant_id="1:5:A:G"), "variant_id: 66 rows"),
        (lambda t: t.assign(beta=np.nan), "beta: 66 rows not a number"),
        (lambda t: t.assign(chromosome=26), "chromosome: 66 rows not 1-25"),
        (lambda t: t[t["chromosome"] != 7], "lacks autosomes [7]"),
    ],
)
def test_rule_violations_are_reported(tmp_path, edit, expect):
    out = write(tmp_path, sumstats())
    table = pd.read_csv(out, sep="\t", dtype={"p_value": str})
    write_tsv(edit(table), out, na_rep="NA")
    problems = check_gwas_ssf(out, minimum_rows=1)
    assert any(expect in p for p in problems), problems


def test_metadata_must_match_the_file(tmp_path):
    out = write(tmp_path, sumstats())
    meta_path = Path(str(out) + "-meta.yaml")
    meta = yaml.safe_load(meta_path.read_text())
    meta["data_file_md5sum"] = "0" * 32
    meta_path.write_text(yaml.safe_dump(meta))
    assert "metadata data_file_md5sum does not match the file" in check_gwas_ssf(out, 1)
    meta_path.unlink()
    assert check_gwas_ssf(out, 1) == [f"metadata file {meta_path.name} is missing"]


def test_minimum_rows_is_the_validators_default(tmp_path):
    out = write(tmp_path, sumstats())
    assert check_gwas_ssf(out) == ["66 rows, fewer than the minimum 100000"]


VALIDATE = """
import sys
from pathlib import Path
from gwas_sumstats_tools.validate import Validator
v = Validator(sumstats_file=Path(sys.argv[1]), minimum_rows=10, sample_size=10)
print("VALID" if v.validate()[0] else "INVALID", v.primary_error_type)
"""


def ssf_python() -> str | None:
    """The Python of a separate venv with gwas-sumstats-tools 1.0.25 (it needs pandas 1.5 and
    pydantic 1, which the project's env cannot hold): REGWAS_GWAS_SSF_PYTHON or .venv-ssf."""
    path = os.environ.get("REGWAS_GWAS_SSF_PYTHON") or str(ROOT / ".venv-ssf/bin/python")
    return path if os.access(path, os.X_OK) else None


def validate(path: Path) -> str:
    # the Python API: the 1.0.25 command line fails before validating (sample_size unset)
    result = subprocess.run(
        [ssf_python(), "-c", VALIDATE, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    return result.stdout + result.stderr


@pytest.mark.skipif(
    ssf_python() is None,
    reason="gwas-sumstats-tools not installed (make ssf-validator, or REGWAS_GWAS_SSF_PYTHON)",
)
def test_the_gwas_catalogs_validator_accepts_the_file(tmp_path):
    out = write(tmp_path, sumstats(per_chrom=5), "regwas-ecg-native.tsv.gz")
    assert "VALID None" in validate(out)
    bad = tmp_path / "bad"
    bad.mkdir()
    out = write(bad, sumstats(per_chrom=5).assign(effect_allele="N"), "bad.tsv.gz")
    assert "INVALID" in validate(out)

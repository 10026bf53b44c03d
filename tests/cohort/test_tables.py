"""Input table validation: messages name file, line, sample and column; results agree with
plain row-by-row jsonschema validation; the ICD-10 pattern accepts the phecodeX_WHO map."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft7Validator

from regwas.cohort import tables
from regwas.cohort.tables import load_schema, validate_table
from regwas.errors import InputError
from regwas.io.icd10 import normalise_icd10

HEADER = "sample_id\tage\tsex\tbmi\tsite\tpheno\tnote\n"


def _tsv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_samples_are_typed(tmp_path):
    path = _tsv(
        tmp_path,
        "samples.tsv",
        HEADER
        + " S1 \t40\tF\t22.5\tsite1\t1.5\tx\n"
        + "S2\t41.5\tM\tNA\t\t2\ty\n"
        + "\n"
        + "S3\t60\tM\t30\tsite2\t\tz\n",
    )
    df = validate_table(path, "samples")
    assert df["sample_id"].tolist() == ["S1", "S2", "S3"]
    assert df["age"].dtype == np.float64 and df["age"].tolist() == [40, 41.5, 60]
    assert df["bmi"].isna().tolist() == [False, True, False]
    assert df["pheno"].dtype == np.float64  # undeclared but numeric
    assert df["note"].tolist() == ["x", "y", "z"]
    assert pd.isna(df["site"].iloc[1]) and df["site"].iloc[2] == "site2"
    assert df.attrs["lines"].tolist() == [2, 3, 5]


def test_non_numeric_age_and_bad_sex_named(tmp_path):
    path = _tsv(
        tmp_path,
        "samples.tsv",
        HEADER + "S1\t40\tF\t22\ta\t1\tx\nS2\tabc\tX\t22\ta\t1\tx\nS3\t130\tM\t22\ta\t1\tx\n",
    )
    with pytest.raises(InputError) as err:
        validate_table(path, "samples")
    msg = str(err.value)
    assert msg.startswith(f"{path}: 3 problems found")
    assert "samples.tsv line 3 (sample_id S2), column 'age': 'abc' is not a number" in msg
    assert "samples.tsv line 3 (sample_id S2), column 'sex': 'X' is not one of ['F', 'M']" in msg
    assert (
        "samples.tsv line 4 (sample_id S3), column 'age': 130.0 is greater than the maximum" in msg
    )


def test_missing_required_column_named(tmp_path):
    path = _tsv(tmp_path, "samples.tsv", "sample_id\tage\nS1\t40\n")
    with pytest.raises(InputError, match=r"samples\.tsv: missing required column\(s\) 'sex'"):
        validate_table(path, "samples")


def test_missing_required_value_and_duplicate_id(tmp_path):
    path = _tsv(tmp_path, "s.tsv", "sample_id\tage\tsex\nS1\t40\tF\nS2\t\tM\nS1\t50\tM\n")
    with pytest.raises(InputError) as err:
        validate_table(path, "samples")
    msg = str(err.value)
    assert "s.tsv line 3 (sample_id S2), column 'age': missing value (required)" in msg
    assert (
        "s.tsv line 4 (sample_id S1), column 'sample_id': duplicate sample_id 'S1' (first on line 2)"
        in msg
    )


@pytest.mark.parametrize("text", ["", "sample_id\tage\tsex\n", "sample_id\tage\tsex\n\n\n"])
def test_empty_table_named(tmp_path, text):
    path = _tsv(tmp_path, "samples.tsv", text)
    with pytest.raises(
        InputError, match=r"samples\.tsv: the table (is empty|has a header but no data)"
    ):
        validate_table(path, "samples")


def test_missing_file_and_duplicate_header(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        validate_table(tmp_path / "nope.tsv", "samples")
    path = _tsv(tmp_path, "s.tsv", "sample_id\tage\tsex\tage\nS1\t1\tF\t2\n")
    with pytest.raises(InputError, match="duplicate column name.*age"):
        validate_table(path, "samples")


def test_at_most_ten_problems_shown_with_total(tmp_path):
    rows = "".join(f"S{i}\tx{i}\tF\n" for i in range(14))
    path = _tsv(tmp_path, "s.tsv", "sample_id\tage\tsex\n" + rows)
    with pytest.raises(InputError) as err:
        validate_table(path, "samples")
    msg = str(err.value)
    assert "14 problems found" in msg and "... and 4 more" in msg
    assert msg.count("is not a number") == 10
    assert "line 11 (sample_id S9)" in msg and "line 12" not in msg


def test_icd10_normalised_and_bad_code_named(tmp_path):
    path = _tsv(
        tmp_path,
        "diagnoses.tsv",
        "sample_id\ticd10\nS1\ti480\nS1\tI10\nS2\tG30.1\nS3\t b1810 \n",
    )
    df = validate_table(path, "diagnoses")
    assert df["icd10"].tolist() == ["I48.0", "I10", "G30.1", "B18.10"]
    bad = _tsv(tmp_path, "d2.tsv", "sample_id\ticd10\nS1\tI48.0\nS2\t480\nS3\tI4\n")
    with pytest.raises(InputError) as err:
        validate_table(bad, "diagnoses")
    msg = str(err.value)
    assert "d2.tsv line 3 (sample_id S2), column 'icd10': '480' is not a WHO ICD-10 code" in msg
    assert "d2.tsv line 4 (sample_id S3), column 'icd10': 'I4' is not a WHO ICD-10 code" in msg


def test_icd10_pattern_accepts_the_phecodex_who_map():
    """Every code of the bundled phecodeX_WHO map validates, and undotted forms normalise back."""
    path = files("pyphewas") / "phecode_maps" / "phecodeX_WHO.csv"
    codes = pd.Series(pd.read_csv(path, dtype=str)["ICD"].dropna().unique())
    pattern = load_schema("diagnoses")["properties"]["icd10"]["pattern"]
    assert codes.str.fullmatch(pattern).all()
    assert (normalise_icd10(codes.str.replace(".", "", regex=False)) == codes).all()


def test_manifest_optional_path_columns_and_duplicates(tmp_path):
    path = _tsv(
        tmp_path,
        "ecg.manifest.tsv",
        "sample_id\tpath\tlabel_path\tsite\nS1\ta/S1\ta/S1_l\tx\nS2\ta/S2\t\ty\n",
    )
    df = validate_table(path, "manifest")
    assert df["label_path"].iloc[0] == "a/S1_l" and pd.isna(df["label_path"].iloc[1])
    bad = _tsv(tmp_path, "m.tsv", "sample_id\tpath\nS1\ta\nS2\t\nS1\tb\n")
    with pytest.raises(InputError) as err:
        validate_table(bad, "manifest")
    msg = str(err.value)
    assert "m.tsv line 3 (sample_id S2), column 'path': missing value (required)" in msg
    assert "m.tsv line 4 (sample_id S1), column 'sample_id': duplicate sample_id 'S1'" in msg


def _reference_problems(frame: pd.DataFrame, schema: dict) -> set[tuple[int, str]]:
    """(line, column) problems by plain jsonschema, one row dict at a time."""
    validator = Draft7Validator({k: v for k, v in schema.items() if not k.startswith("x-")})
    props = schema["properties"]
    out = set()
    for i, row in enumerate(frame.to_dict("records")):
        obj = {}
        for col, raw in row.items():
            if raw == "":
                continue
            if props.get(col, {}).get("type") == "number":
                try:
                    obj[col] = float(raw)
                except ValueError:
                    obj[col] = raw
            else:
                obj[col] = raw
        for err in validator.iter_errors(obj):
            if err.validator == "required":
                col = re.match(r"'([^']+)'", err.message).group(1)
            else:
                col = err.absolute_path[0]
            out.add((i + 2, col))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_row_by_row_jsonschema(tmp_path, monkeypatch, seed):
    """The column-wise fast path flags exactly the cells jsonschema flags row by row."""
    monkeypatch.setattr(tables, "MAX_SHOWN", 10**6)
    rng = np.random.default_rng(seed)
    n = 200

    def pick(good, bad, p=0.04):
        return np.where(rng.random(n) < p, rng.choice(bad, n), rng.choice(good, n))

    frame = pd.DataFrame(
        {
            "sample_id": [f"S{i}" for i in range(n)],
            "age": pick(
                [str(x) for x in rng.uniform(0, 120, 50).round(2)] + ["0", "120"],
                ["-1", "120.5", "abc", "", "1e3"],
            ),
            "sex": pick(["F", "M"], ["X", "f", "", "male"]),
            "bmi": pick(
                [str(x) for x in rng.uniform(5, 150, 50).round(1)], ["4.9", "151", "?", ""]
            ),
            "heart_rate": pick(["60", "72.5", ""], ["5", "401", "fast"]),
            "site": pick(["a", "b", ""], ["c"]),
        }
    )
    path = tmp_path / "samples.tsv"
    frame.to_csv(path, sep="\t", index=False)
    want = _reference_problems(frame, load_schema("samples"))
    got = set()
    try:
        validate_table(path, "samples")
    except InputError as err:
        for line, col in re.findall(r"line (\d+) \(sample_id S\d+\), column '(\w+)'", str(err)):
            got.add((int(line), col))
    assert got == want
    assert want  # the random table does hold problems


def test_comma_separated_table_gets_a_delimiter_hint(tmp_path):
    path = _tsv(tmp_path, "samples.tsv", "sample_id,age,sex\nS1,40,F\n")
    with pytest.raises(InputError, match=r"missing required column.*looks ','-separated.*TSV"):
        validate_table(path, "samples")

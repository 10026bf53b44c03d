"""Property-based tests (hypothesis) of the table readers: regwas.io.tables (write_tsv /
read_tsv) and the cohort's schema validation (regwas.cohort.tables.validate_table).

Round trips give back what was written; arbitrary junk gives either a table or an InputError
whose first line names the file, never another exception. Examples are derandomised (the same
inputs every run) and untimed."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is pinned in requirements.lock")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from regwas.cohort.tables import NA_TOKENS, validate_table  # noqa: E402
from regwas.errors import InputError  # noqa: E402
from regwas.io.tables import read_tsv, write_tsv  # noqa: E402

SETTINGS = settings(
    derandomize=True,
    database=None,  # nothing written into the checkout
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)

# text cells: printable, no control characters (tabs and newlines are junk, tested below)
CELL = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12
)
NAME = st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=8)


@st.composite
def frames(draw) -> pd.DataFrame:
    """A table of 1-6 columns (text, integer, float) and 1-15 rows."""
    names = draw(st.lists(NAME, min_size=1, max_size=6, unique=True))
    n = draw(st.integers(1, 15))
    data = {}
    for name in names:
        kind = draw(st.sampled_from(["text", "int", "float"]))
        if kind == "text":
            data[name] = draw(st.lists(CELL, min_size=n, max_size=n))
        elif kind == "int":
            data[name] = draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n))
        else:
            floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
            data[name] = draw(st.lists(floats, min_size=n, max_size=n))
    return pd.DataFrame(data)


def _first_line_names(err: InputError, path: Path) -> None:
    first = str(err).splitlines()[0]
    assert first.startswith(str(path)), first


@SETTINGS
@given(frames(), st.sampled_from(["t.tsv", "t.tsv.gz"]))
def test_write_then_read_gives_the_table_back(df, name):
    """Every cell comes back exactly (floats to the bit) and gzip output is byte-reproducible."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        write_tsv(df, path)
        text_cols = {c: str for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])}
        back = read_tsv(path, dtype=text_cols, keep_default_na=False, na_values=[])
        pd.testing.assert_frame_equal(back, df, check_dtype=False, check_exact=True)
        first = path.read_bytes()
        write_tsv(df, path)
        assert path.read_bytes() == first


JUNK_TEXT = st.lists(
    st.sampled_from(list("\t\n\r ,;\"'#\x00\ufeffAaI10.9-NFMé") + ["sample_id", "icd10", "age"]),
    max_size=40,
).map("".join)
JUNK = st.one_of(JUNK_TEXT.map(lambda t: t.encode("utf-8")), st.binary(max_size=80))


@SETTINGS
@given(JUNK)
def test_read_tsv_on_junk_is_a_table_or_one_named_error(blob):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "junk.tsv"
        path.write_bytes(blob)
        try:
            table = read_tsv(path)
        except InputError as err:
            _first_line_names(err, path)
            assert "\n" not in str(err)
        else:
            assert isinstance(table, pd.DataFrame)


@SETTINGS
@given(JUNK, st.sampled_from(["samples", "diagnoses", "manifest"]))
def test_validate_table_on_junk_is_a_table_or_a_named_error(blob, schema):
    """Junk: a typed table (then the required columns are there and ids unique) or InputError
    whose first line names the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{schema}.tsv"
        path.write_bytes(blob)
        try:
            table = validate_table(path, schema)
        except InputError as err:
            _first_line_names(err, path)
        else:
            assert len(table) > 0 and "sample_id" in table.columns
            assert table["sample_id"].notna().all()
            if schema == "samples":
                assert not table["sample_id"].duplicated().any()


SAMPLE_ID = st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=10).filter(
    lambda s: s not in NA_TOKENS
)


@st.composite
def samples_tables(draw) -> pd.DataFrame:
    ids = draw(st.lists(SAMPLE_ID, min_size=1, max_size=20, unique=True))
    n = len(ids)
    ages = draw(st.lists(st.floats(0, 120, allow_nan=False), min_size=n, max_size=n))
    sexes = draw(st.lists(st.sampled_from(["F", "M"]), min_size=n, max_size=n))
    table = pd.DataFrame({"sample_id": ids, "age": ages, "sex": sexes})
    if draw(st.booleans()):
        table["height"] = draw(st.lists(st.floats(30, 300), min_size=n, max_size=n))
    return table


@SETTINGS
@given(samples_tables())
def test_valid_samples_round_trip(table):
    """A valid samples table validates, with every value as written (floats exact), and the
    row -> line map is header + 1."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "samples.tsv"
        write_tsv(table, path)
        got = validate_table(path, "samples")
        assert got["sample_id"].tolist() == table["sample_id"].tolist()
        np.testing.assert_array_equal(got["age"].to_numpy(float), table["age"].to_numpy(float))
        assert got["sex"].tolist() == table["sex"].tolist()
        if "height" in table:
            np.testing.assert_array_equal(got["height"].to_numpy(float), table["height"])
        assert list(got.attrs["lines"]) == list(range(2, len(table) + 2))


@st.composite
def icd10_codes(draw) -> tuple[str, str]:
    """(a code as a user may write it, its dotted WHO form)."""
    letter = draw(st.sampled_from(string.ascii_uppercase))
    digits = draw(st.text(string.digits, min_size=2, max_size=2))
    sub = draw(st.text(string.digits, min_size=0, max_size=2))
    canonical = letter + digits + (f".{sub}" if sub else "")
    written = draw(
        st.sampled_from(
            [canonical, canonical.lower(), canonical.replace(".", ""), f" {canonical} "]
        )
    )
    return written, canonical


@SETTINGS
@given(st.lists(st.tuples(SAMPLE_ID, icd10_codes()), min_size=1, max_size=20))
def test_diagnoses_are_normalised_to_the_who_form(rows):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "diagnoses.tsv"
        lines = ["sample_id\ticd10"] + [f"{sid}\t{code[0]}" for sid, code in rows]
        path.write_text("\n".join(lines) + "\n")
        got = validate_table(path, "diagnoses")
        assert got["icd10"].tolist() == [code[1] for _, code in rows]
        assert got["sample_id"].tolist() == [sid for sid, _ in rows]

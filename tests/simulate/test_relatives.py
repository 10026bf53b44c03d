"""Planted relatives of the synthetic biobank: their kinship (KING, itself checked against
plink2 in tests/genetics) matches the relationship written to truth/relatives.tsv, and the
cohort stage's greedy removal takes exactly the expected members."""

from pathlib import Path

import pandas as pd
import pytest

from regwas.errors import InputError
from regwas.genetics.kinship import king_cutoff, king_pairs
from regwas.io.plink import read_fam
from regwas.simulate.cohort import simulate

CFG = {
    "n_samples": 400,
    "render": False,
    "modalities": ["ecg"],
    "genotypes": {"n_chromosomes": 22, "chromosome_length": 600_000},
    "factors": {"names": {"ecg": ["a", "b"]}, "causal_per_factor": 1, "min_causal_distance": 0},
    "diseases": [{"icd10": "J45.9", "prevalence": 0.1}],
    "relatives": {"trios": 1, "parent_offspring": 1, "full_siblings": 1, "duplicates": 2},
}


@pytest.fixture(scope="module")
def biobank(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rel") / "biobank"
    simulate(CFG, 3, out)
    return out


def test_planted_relatives_have_their_kinship_and_are_removed(biobank):
    truth = pd.read_csv(biobank / "truth" / "relatives.tsv", sep="\t")
    assert truth["relationship"].value_counts().to_dict() == {
        "parent_offspring": 3,
        "duplicate": 2,
        "full_siblings": 1,
    }
    prefixes = [str(biobank / "genotypes" / f"chr{c}") for c in range(1, 23)]
    ids = read_fam(f"{prefixes[0]}.fam")["iid"].tolist()
    pairs = king_pairs(prefixes, min_kinship=0.02)
    pairs["pair"] = [
        frozenset((ids[i], ids[j])) for i, j in zip(pairs["index1"], pairs["index2"], strict=True)
    ]
    by_pair = {p: row for p, row in zip(pairs["pair"], pairs.itertuples(), strict=True)}
    for row in truth.itertuples():
        got = by_pair[frozenset((row.sample_id_1, row.sample_id_2))]
        if row.relationship == "duplicate":
            assert got.kinship > 0.45
        elif row.relationship == "parent_offspring":
            assert got.ibs0 == 0  # a child shares an allele with each parent everywhere
            assert abs(got.kinship - 0.25) < 0.03
        else:
            assert abs(got.kinship - 0.25) < 0.12  # 22 short chromosomes: few segments
    # nobody else is first-degree related (2^-2.5; the short genome makes unrelated pairs'
    # kinship noisy, so not the second-degree default)
    planted = {frozenset(p) for p in zip(truth["sample_id_1"], truth["sample_id_2"], strict=True)}
    assert set(pairs["pair"][pairs["kinship"] > 0.177]) == planted
    removed = {ids[i] for i in king_cutoff(len(ids), pairs, 0.177)["index"]}
    # expected: the trio's child (related to both parents), else each pair's later member
    counts = pd.concat([truth["sample_id_1"], truth["sample_id_2"]]).value_counts()
    trio_child = list(counts.index[counts == 2])
    expected = set(trio_child) | {
        r.sample_id_2
        for r in truth.itertuples()
        if not {r.sample_id_1, r.sample_id_2} & set(trio_child)
    }
    assert len(trio_child) == 1 and removed == expected


def test_relatives_need_enough_people(tmp_path):
    cfg = {**CFG, "n_samples": 12, "relatives": {"duplicates": 8}}
    with pytest.raises(InputError, match="simulate.relatives: too few people in population"):
        simulate(cfg, 3, tmp_path / "b")
    assert not (tmp_path / "b").exists()

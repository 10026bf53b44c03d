"""KING-robust kinship and the greedy --king-cutoff removal against plink2 on the same files
(a cohort with a trio, full siblings, a duplicate with discordant calls, and missing calls)."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from regwas.genetics.kinship import king_cutoff, king_kinship, king_pairs
from regwas.simulate.genotypes import write_bed

PLINK2 = shutil.which("plink2")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (make system)")


def _child(rng, mother, father):
    """One child's two haplotypes (variants x 2) from the parents' haplotypes, one crossover
    per parent so transmitted haplotypes are mosaics."""
    out = np.empty_like(mother)
    m = len(mother)
    for k, parent in enumerate((mother, father)):
        cut = rng.integers(1, m)
        first = rng.integers(2)
        out[:cut, k] = parent[:cut, first]
        out[cut:, k] = parent[cut:, 1 - first]
    return out


def _cohort(seed=0, n=48, m=3000, missing=0.02):
    """Haplotypes of unrelated people from two populations, then (by .fam position) a trio
    (father 3, mother 10, child 20), full siblings 30 and 40 of parents outside the cohort, and
    person 45 a duplicate of person 5 with 1% discordant calls. Returns (ALT counts people x
    variants, int8 with -9 missing, the planted pairs)."""
    rng = np.random.default_rng(seed)
    f0 = rng.uniform(0.05, 0.95, m)
    f1 = np.clip(f0 + rng.normal(0, 0.1, m), 0.02, 0.98)
    pop = np.arange(n + 2) % 2
    freq = np.where(pop[:, None, None] == 0, f0[None, :, None], f1[None, :, None])
    haps = (rng.random((n + 2, m, 2)) < freq).astype(np.int8)  # people x variants x 2
    haps[20] = _child(rng, haps[3], haps[10])
    haps[30] = _child(rng, haps[n], haps[n + 1])  # parents n, n + 1 are not in the cohort
    haps[40] = _child(rng, haps[n], haps[n + 1])
    G = haps[:n].sum(axis=2).astype(np.int8)
    G[45] = G[5]
    flip = rng.random(m) < 0.01
    G[45, flip] = (G[45, flip] + 1) % 3
    G[rng.random(G.shape) < missing] = -9
    planted = {(3, 20), (10, 20), (30, 40), (5, 45)}
    return G, planted


def _write(tmp_path, G, name="c"):
    n, m = G.shape
    bim = pd.DataFrame(
        {
            "chromosome": "1",
            "variant_id": [f"v{i}" for i in range(m)],
            "cm": 0.0,
            "position": np.arange(1, m + 1) * 100,
            "alt": "A",
            "ref": "G",
        }
    )
    ids = [f"P{i:02d}" for i in range(n)]
    write_bed(
        tmp_path / name,
        np.where(G == -9, np.nan, G).astype(np.float32),
        bim,
        ids,
        np.ones(n, dtype=int),
    )
    return str(tmp_path / name), ids


def _plink2(*args):
    subprocess.run([PLINK2, "--threads", "1", *args], check=True, capture_output=True)


def test_kinship_equals_a_direct_count_per_pair():
    G, _ = _cohort(1, m=500)
    G = G[:12]
    c = {k: np.zeros((12, 12)) for k in ("hethet", "ibs0", "het1_hom2", "hom1_het2")}
    for i in range(12):
        for j in range(12):
            both = (G[i] != -9) & (G[j] != -9)
            gi, gj = G[i][both], G[j][both]
            c["hethet"][i, j] = np.sum((gi == 1) & (gj == 1))
            c["ibs0"][i, j] = np.sum(np.abs(gi.astype(int) - gj) == 2)
            c["het1_hom2"][i, j] = np.sum((gi == 1) & (gj != 1))
            c["hom1_het2"][i, j] = np.sum((gi != 1) & (gj == 1))
    phi = king_kinship(c)
    # KING's published form: (N_AaAa - 2 N_AA,aa) / (2 N_Aa(i)) + 1/2 - (N_Aa(i) + N_Aa(j)) /
    # (4 N_Aa(i)) with N_Aa(i) <= N_Aa(j), heterozygote counts over jointly called variants
    ni, nj = c["hethet"] + c["het1_hom2"], c["hethet"] + c["hom1_het2"]
    small = np.minimum(ni, nj)
    king = (c["hethet"] - 2 * c["ibs0"]) / (2 * small) + 0.5 - (ni + nj) / (4 * small)
    np.testing.assert_allclose(phi, king, rtol=1e-12)


@needs_plink2
@pytest.mark.parametrize("block_samples", [4096, 7])  # one tile; tiles of 7 samples
def test_king_table_and_cutoff_equal_plink2(tmp_path, block_samples):
    G, planted = _cohort()
    prefix, ids = _write(tmp_path, G)
    _plink2("--bfile", prefix, "--make-king-table", "--out", str(tmp_path / "k"))
    ref = pd.read_csv(tmp_path / "k.kin0", sep="\t")
    ours = king_pairs([prefix], min_kinship=None, block_samples=block_samples, block_variants=512)
    assert len(ours) == len(G) * (len(G) - 1) // 2 == len(ref)
    ref_pos = {iid: i for i, iid in enumerate(ids)}
    i1 = ref["IID1"].map(ref_pos).to_numpy()
    i2 = ref["IID2"].map(ref_pos).to_numpy()
    key = pd.MultiIndex.from_arrays([np.minimum(i1, i2), np.maximum(i1, i2)])
    ours = ours.set_index(["index1", "index2"]).loc[key]
    np.testing.assert_array_equal(ours["nsnp"], ref["NSNP"])
    # plink2 prints HETHET and IBS0 as proportions of NSNP (6 significant digits)
    np.testing.assert_allclose(ours["hethet"] / ours["nsnp"], ref["HETHET"], rtol=1e-5)
    np.testing.assert_allclose(ours["ibs0"] / ours["nsnp"], ref["IBS0"], rtol=1e-5)
    np.testing.assert_allclose(ours["kinship"], ref["KINSHIP"], rtol=1e-5, atol=1e-6)
    related = {tuple(p) for p in ours.index[ours["kinship"] > 0.0884]}
    assert related == planted  # the planted relatives, and nobody else, are related

    _plink2("--bfile", prefix, "--king-cutoff", "0.0884", "--out", str(tmp_path / "cut"))
    removed_ref = set(pd.read_csv(tmp_path / "cut.king.cutoff.out.id", sep="\t")["IID"])
    pairs = king_pairs([prefix], min_kinship=0.0442, block_samples=block_samples)
    removed = king_cutoff(len(G), pairs, 0.0884)
    assert {ids[i] for i in removed["index"]} == removed_ref
    # the trio loses the child (not both parents); the other pairs their later member
    assert set(removed["index"]) == {20, 40, 45}
    assert removed.set_index("index").loc[20, "n_related"] == 2


def test_greedy_removal_follows_plink2_rule():
    # a chain 0-1-2-3 and a star around 5: degree-one vertices first (partner of the lowest)
    pairs = pd.DataFrame(
        {
            "index1": [0, 1, 2, 4, 5, 5],
            "index2": [1, 2, 3, 5, 6, 7],
            "kinship": [0.25, 0.3, 0.25, 0.2, 0.2, 0.2],
        }
    )
    removed = king_cutoff(8, pairs, 0.0884)
    assert list(removed["index"]) == [1, 3, 5]
    # no degree-one vertex: a triangle loses its first vertex, then a pair the partner
    tri = pd.DataFrame({"index1": [0, 0, 1], "index2": [1, 2, 2], "kinship": [0.3] * 3})
    assert list(king_cutoff(3, tri, 0.0884)["index"]) == [0, 2]
    assert king_cutoff(3, tri, 0.35).empty

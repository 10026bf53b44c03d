"""Coalescent genotypes for the synthetic biobank (msprime), written as PLINK 1 file sets.

Several ancestry groups split from one ancestral population and exchange migrants, so
population structure is a real confounder that the workflow must remove with genetic PCs.
Mutations follow a JC69 nucleotide model; only biallelic SNVs above a MAF threshold are kept.
ALT (the derived allele) is written as .bim A1 and the .bed stores ALT counts (as plink2).
Relatives (``plan_relatives``) are planted by transmitting haplotypes from parents to children,
parents outside the cohort being extra coalescent samples that are dropped afterwards.

With ``chrx`` a non-pseudo-autosomal X chromosome is added (chrX.*, .bim chromosome X): it is
simulated with three quarters of the autosomal effective size (men carry one X), each man keeps
one of his two simulated haplotypes and is written hemizygous as 0 or 2 (PLINK's coding of a
haploid call), and the MAF filter counts a man's allele once. Every .fam carries the sex.
Relatives' X is transmitted like an autosome (not sex-aware) and a man among them keeps one of
his two transmitted alleles at random; the cohort stage removes relatives before any test.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChromosomeResult:
    """What one simulated chromosome produced: its .bim table and ALT allele counts."""

    chromosome: int | str  # 1..22, or "X"
    bim: pd.DataFrame  # chromosome, variant_id, cm, position, alt, ref
    alt_count: np.ndarray  # ALT alleles per variant summed over samples (int64; men once on X)
    min_population_maf: np.ndarray  # smallest MAF of each variant over the populations
    n_segregating: int  # sites before filtering
    n_alleles: int  # allele copies per variant: 2 x people, on X 2 x women + men


X_CHROMOSOME = "X"
X_SEED_INDEX = 22  # chromosome X takes the seeds of a 23rd chromosome (autosomes use 0..21)
X_NE_FACTOR = 0.75  # X copies per person relative to autosomes (equal numbers of both sexes)


def population_sizes(proportions: dict[str, float], n: int) -> dict[str, int]:
    """Split n people over populations by proportion (largest remainders); each gets >= 1."""
    names = list(proportions)
    p = np.array([float(proportions[k]) for k in names])
    raw = p / p.sum() * n
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    if (counts < 1).any():
        small = [k for k, c in zip(names, counts, strict=True) if c < 1]
        raise InputError(
            f"simulate.genotypes.populations: population(s) {small} get no samples at "
            f"n_samples={n}; raise n_samples or their proportion"
        )
    return dict(zip(names, counts.tolist(), strict=True))


def demography(cfg: dict, ne_factor: float = 1.0):
    """The msprime demography: populations split from an ancestor, with symmetric migration
    (effective sizes times ``ne_factor``: 3/4 for chromosome X)."""
    import msprime

    names = list(cfg["populations"])
    ne = float(cfg["effective_size"]) * ne_factor
    dem = msprime.Demography()
    for name in names:
        dem.add_population(name=name, initial_size=ne)
    dem.add_population(name="ancestral", initial_size=ne)
    if len(names) > 1 and cfg["migration_rate"] > 0:
        dem.set_symmetric_migration_rate(names, float(cfg["migration_rate"]))
    dem.add_population_split(time=float(cfg["split_time"]), derived=names, ancestral="ancestral")
    return dem


RELATIONSHIPS = {"parent_offspring": 0.25, "full_siblings": 0.25, "duplicate": 0.5}


@dataclass(frozen=True)
class RelativesPlan:
    """Planted relatives in msprime individual numbering of the cohort (0..n-1, population by
    population). ``ghosts`` extra individuals per population are simulated after each
    population's cohort members and serve as parents outside the cohort. ``children``: (child,
    parent1, parent2) where a parent is ("cohort", i) or ("ghost", population, j);
    ``duplicates``: (original, copy); ``pairs``: (i, j, relationship) to report."""

    ghosts: tuple[int, ...]
    children: tuple[tuple, ...]
    duplicates: tuple[tuple[int, int], ...]
    pairs: tuple[tuple[int, int, str], ...]
    discordance: float
    seed: int


def plan_relatives(cfg: dict, sizes: dict[str, int], rng: np.random.Generator) -> RelativesPlan:
    """Choose the planted families: each in one population (drawn by size), its cohort members
    distinct people not used by another family."""
    counts = list(sizes.values())
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    free = [list(rng.permutation(c)) for c in counts]
    ghosts = [0] * len(counts)
    children, duplicates, pairs = [], [], []

    def take(k: int, how_many: int, what: str) -> list[int]:
        if len(free[k]) < how_many:
            raise InputError(
                f"simulate.relatives: too few people in population {list(sizes)[k]} for the "
                f"planted {what}; lower simulate.relatives or raise n_samples"
            )
        return [int(offsets[k] + free[k].pop()) for _ in range(how_many)]

    def ghost(k: int) -> tuple:
        ghosts[k] += 1
        return ("ghost", k, ghosts[k] - 1)

    p = np.asarray(counts, dtype=float) / sum(counts)
    for kind in ("trios", "parent_offspring", "full_siblings", "duplicates"):
        for _ in range(int(cfg[kind])):
            k = int(rng.choice(len(counts), p=p))
            if kind == "trios":
                a, b, c = take(k, 3, kind)
                children.append((c, ("cohort", a), ("cohort", b)))
                pairs += [(a, c, "parent_offspring"), (b, c, "parent_offspring")]
            elif kind == "parent_offspring":
                a, c = take(k, 2, kind)
                children.append((c, ("cohort", a), ghost(k)))
                pairs.append((a, c, "parent_offspring"))
            elif kind == "full_siblings":
                s1, s2 = take(k, 2, kind)
                g1, g2 = ghost(k), ghost(k)
                children += [(s1, g1, g2), (s2, g1, g2)]
                pairs.append((s1, s2, "full_siblings"))
            else:
                a, b = take(k, 2, kind)
                duplicates.append((a, b))
                pairs.append((a, b, "duplicate"))
    return RelativesPlan(
        tuple(ghosts),
        tuple(children),
        tuple(duplicates),
        tuple(pairs),
        float(cfg["duplicate_discordance"]),
        int(rng.integers(2**31 - 1)),
    )


def _transmit(
    haps: np.ndarray, positions: np.ndarray, crossovers: float, rng: np.random.Generator
) -> np.ndarray:
    """One gamete (sites) from a parent's two haplotypes (sites x 2): a random start and a
    switch at each of Poisson(crossovers) uniform crossover positions."""
    n_cross = rng.poisson(crossovers)
    cuts = np.sort(rng.uniform(positions.min(), positions.max() + 1, n_cross))
    which = (rng.integers(2) + np.searchsorted(cuts, positions)) % 2
    return haps[np.arange(len(positions)), which]


def apply_relatives(
    haps: np.ndarray,
    positions: np.ndarray,
    sizes: dict[str, int],
    plan: RelativesPlan,
    crossovers: float,
    chromosome: int,
) -> np.ndarray:
    """Cohort ALT counts (people x sites, int8) from the haplotypes of all simulated
    individuals (individuals x sites x 2, population by population, each population's ghosts
    after its cohort members), with the planted children and duplicates."""
    counts = list(sizes.values())
    sim_offsets = np.concatenate([[0], np.cumsum(np.add(counts, plan.ghosts))[:-1]])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pop_of = np.repeat(np.arange(len(counts)), counts)

    def row(member) -> int:
        if member[0] == "ghost":
            return int(sim_offsets[member[1]] + counts[member[1]] + member[2])
        i = int(member[1])
        return int(sim_offsets[pop_of[i]] + i - offsets[pop_of[i]])

    rng = np.random.default_rng([plan.seed, int(chromosome)])
    parents = haps.copy()  # children are built from the parents' original haplotypes
    for child, p1, p2 in plan.children:
        g1 = _transmit(parents[row(p1)], positions, crossovers, rng)
        g2 = _transmit(parents[row(p2)], positions, crossovers, rng)
        haps[row(("cohort", child))] = np.stack([g1, g2], axis=1)
    cohort_rows = [row(("cohort", i)) for i in range(sum(counts))]
    dosage = haps[cohort_rows].sum(axis=2).astype(np.int8)
    for a, b in plan.duplicates:
        dosage[b] = dosage[a]
        flip = rng.random(dosage.shape[1]) < plan.discordance
        dosage[b, flip] = (dosage[b, flip] + rng.integers(1, 3, int(flip.sum()))) % 3
    return dosage


def simulate_chromosome(
    chromosome: int | str,
    cfg: dict,
    sizes: dict[str, int],
    seeds: tuple[int, int],
    relatives: RelativesPlan | None = None,
    male: np.ndarray | None = None,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, int]:
    """Simulate one chromosome -> (ALT counts people x variants int8 in msprime individual
    order, bim table, population index per individual, number of segregating sites).

    Chromosome X (``male`` flags the men in msprime individual order): effective size x 3/4,
    length simulate.genotypes.chrx_length, men hemizygous (their first haplotype, coded 0/2),
    MAF counting a man's allele once."""
    import msprime

    x = male is not None
    length = cfg["chrx_length"] if x and cfg.get("chrx_length") else cfg["chromosome_length"]
    sim_sizes = sizes
    if relatives is not None and any(relatives.ghosts):
        sim_sizes = {k: v + g for (k, v), g in zip(sizes.items(), relatives.ghosts, strict=True)}
    ts = msprime.sim_ancestry(
        samples=sim_sizes,
        demography=demography(cfg, X_NE_FACTOR if x else 1.0),
        sequence_length=int(length),
        recombination_rate=float(cfg["recombination_rate"]),
        ploidy=2,
        random_seed=int(seeds[0]),
    )
    ts = msprime.sim_mutations(
        ts,
        rate=float(cfg["mutation_rate"]),
        model=msprime.JC69(),
        discrete_genome=True,
        random_seed=int(seeds[1]),
    )
    n_hap = ts.num_samples
    min_count = float(cfg["min_maf"]) * n_hap
    keep: list[int] = []
    derived: list[str] = []
    for tree in ts.trees():
        for site in tree.sites():
            if len(site.mutations) != 1:
                continue  # recurrent or back mutation: not a biallelic SNV
            mut = site.mutations[0]
            if mut.derived_state == site.ancestral_state:
                continue
            count = tree.num_samples(mut.node)
            if min(count, n_hap - count) >= min_count and 0 < count < n_hap:
                keep.append(site.id)
                derived.append(mut.derived_state)
    keep_arr = np.asarray(keep, dtype=np.int64)
    drop = np.setdiff1d(np.arange(ts.num_sites), keep_arr)
    n_segregating = ts.num_sites
    ts = ts.delete_sites(drop)
    haps = ts.genotype_matrix()  # sites x sample nodes; 0 = ancestral, 1 = derived
    nodes = ts.individuals_nodes  # individuals x 2
    samples = ts.samples()
    col = np.searchsorted(samples, nodes)
    positions = ts.tables.sites.position.astype(np.int64) + 1  # 1-based
    if relatives is None:
        dosage = (haps[:, col[:, 0]] + haps[:, col[:, 1]]).astype(np.int8).T  # people x variants
        pops = ts.individual_populations.astype(np.int64)
    else:
        ind_haps = np.stack([haps[:, col[:, 0]].T, haps[:, col[:, 1]].T], axis=2).astype(np.int8)
        crossovers = float(cfg["recombination_rate"]) * float(length)
        dosage = apply_relatives(ind_haps, positions, sizes, relatives, crossovers, chromosome)
        pops = individual_populations(sizes)
    ref = np.array([s.ancestral_state for s in ts.sites()], dtype=object)
    alt = np.array(derived, dtype=object)
    if x and relatives is None:  # men keep one haplotype, written as a homozygous call 0/2
        dosage[male] = 2 * haps[:, col[male, 0]].T.astype(np.int8)
    elif x:  # after transmission: a man keeps one of his two alleles, drawn at random
        het = np.asarray(male, dtype=bool)[:, None] & (dosage == 1)
        rng = np.random.default_rng([int(seeds[1]), X_SEED_INDEX])
        dosage[het] = np.where(rng.random(int(het.sum())) < 0.5, 2, 0).astype(np.int8)
    if x:
        alt_alleles, n_alleles = allele_counts(dosage, male)
        mac = np.minimum(alt_alleles, n_alleles - alt_alleles)
        ok = (mac > 0) & (mac >= float(cfg["min_maf"]) * n_alleles)
        dosage, positions, ref, alt = dosage[:, ok], positions[ok], ref[ok], alt[ok]
    bim = pd.DataFrame(
        {
            "chromosome": str(chromosome),
            "variant_id": [
                f"{chromosome}:{p}:{r}:{a}" for p, r, a in zip(positions, ref, alt, strict=True)
            ],
            "cm": 0.0,
            "position": positions,
            "alt": alt,
            "ref": ref,
        }
    )
    return dosage, bim, pops, n_segregating


def allele_counts(dosage: np.ndarray, male: np.ndarray | None) -> tuple[np.ndarray, int]:
    """(ALT alleles per variant, allele copies) of ALT counts people x variants; on chromosome X
    (``male`` given, men coded 0/2) a man counts once."""
    if male is None:
        return dosage.sum(axis=0, dtype=np.int64), 2 * dosage.shape[0]
    male = np.asarray(male, dtype=bool)
    alt = dosage[~male].sum(axis=0, dtype=np.int64) + dosage[male].sum(axis=0, dtype=np.int64) // 2
    return alt, int(2 * (~male).sum() + male.sum())


def write_bed(
    prefix: Path, dosage: np.ndarray, bim: pd.DataFrame, sample_ids: list[str], sex: np.ndarray
) -> None:
    """Write ALT counts (people x variants) as a PLINK 1 file set; A1 = ALT, A2 = REF."""
    from bed_reader import to_bed

    to_bed(
        f"{prefix}.bed",
        dosage,
        properties={
            "fid": sample_ids,
            "iid": sample_ids,
            "sex": sex.tolist(),
            "pheno": ["-9"] * len(sample_ids),
            "chromosome": bim["chromosome"].tolist(),
            "sid": bim["variant_id"].tolist(),
            "cm_position": bim["cm"].tolist(),
            "bp_position": bim["position"].tolist(),
            "allele_1": bim["alt"].tolist(),
            "allele_2": bim["ref"].tolist(),
        },
        count_A1=True,
        num_threads=1,
    )


def _chromosome_job(
    chromosome: int | str,
    cfg: dict,
    sizes: dict[str, int],
    seeds: tuple[int, int],
    order: np.ndarray,
    sample_ids: list[str],
    sex: np.ndarray,
    out_dir: str,
    relatives: RelativesPlan | None = None,
) -> ChromosomeResult:
    """Simulate, reorder people into the cohort order, and write chr{chromosome}.*.
    ``sex`` (cohort order) is the .fam code, 1 male and 2 female."""
    male = None
    if chromosome == X_CHROMOSOME:
        male = np.empty(len(order), dtype=bool)
        male[order] = np.asarray(sex) == 1  # msprime individual order[i] is cohort person i
    dosage, bim, pops, n_seg = simulate_chromosome(chromosome, cfg, sizes, seeds, relatives, male)
    freq = []
    for k in range(len(sizes)):
        alt_k, n_k = allele_counts(dosage[pops == k], None if male is None else male[pops == k])
        freq.append(alt_k / n_k)
    freq = np.stack(freq)
    min_pop_maf = np.minimum(freq, 1 - freq).min(axis=0)
    alt_count, n_alleles = allele_counts(dosage, male)
    dosage = np.ascontiguousarray(dosage[order])
    write_bed(Path(out_dir) / f"chr{chromosome}", dosage, bim, sample_ids, sex)
    return ChromosomeResult(chromosome, bim, alt_count, min_pop_maf, n_seg, n_alleles)


def individual_populations(sizes: dict[str, int]) -> np.ndarray:
    """Population index of each msprime individual (sim_ancestry lists them population by
    population, in the order of ``sizes``)."""
    return np.repeat(np.arange(len(sizes)), list(sizes.values()))


def chromosome_seeds(seed_seq: np.random.SeedSequence, n_chromosomes: int) -> list[tuple[int, int]]:
    """Two msprime seeds (ancestry, mutations) per chromosome, independent of threads."""
    out = []
    for child in seed_seq.spawn(n_chromosomes):
        a, b = child.generate_state(2, dtype=np.uint32)
        out.append((int(a) % (2**31 - 2) + 1, int(b) % (2**31 - 2) + 1))
    return out


def simulate_genotypes(
    cfg: dict,
    n_samples: int,
    seed_seq: np.random.SeedSequence,
    order: np.ndarray,
    sample_ids: list[str],
    sex: np.ndarray,
    out_dir: Path,
    threads: int = 1,
    relatives: RelativesPlan | None = None,
) -> list[ChromosomeResult]:
    """Simulate every chromosome and write out_dir/chr{c}.bed/.bim/.fam (1..n_chromosomes, then
    X when ``cfg["chrx"]``); ``sex`` is the .fam code of each person (1 male, 2 female).

    ``order[i]`` is the msprime individual shown as cohort person i (a fixed shuffle, so
    sample order does not reveal ancestry). Chromosomes run in ``threads`` processes; each has
    its own seed (X those of a 23rd chromosome), so results do not depend on ``threads`` and
    adding X leaves the autosomes unchanged.
    """
    sizes = population_sizes(cfg["populations"], n_samples)
    n_auto = int(cfg["n_chromosomes"])
    seeds = chromosome_seeds(seed_seq, X_SEED_INDEX + 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    chroms: list[int | str] = list(range(1, n_auto + 1))
    if cfg.get("chrx"):
        chroms.append(X_CHROMOSOME)
    n_chrom = len(chroms)
    args = [
        (
            c,
            cfg,
            sizes,
            seeds[X_SEED_INDEX if c == X_CHROMOSOME else c - 1],
            order,
            sample_ids,
            sex,
            str(out_dir),
            relatives,
        )
        for c in chroms
    ]
    results: list[ChromosomeResult] = []
    bar = tqdm(total=n_chrom, desc="chromosomes", unit="chr", disable=None)
    if threads > 1 and n_chrom > 1:
        with ProcessPoolExecutor(max_workers=min(threads, n_chrom)) as pool:
            for res in pool.map(_chromosome_job, *zip(*args, strict=True)):
                results.append(res)
                bar.update()
    else:
        for a in args:
            results.append(_chromosome_job(*a))
            bar.update()
    bar.close()
    for res in results:
        log.info(
            "chr%s: %d segregating sites, %d biallelic SNVs with MAF >= %s",
            res.chromosome,
            res.n_segregating,
            len(res.bim),
            cfg["min_maf"],
        )
        if len(res.bim) == 0:
            raise InputError(
                f"simulate.genotypes: chromosome {res.chromosome} has no variant with MAF >= "
                f"{cfg['min_maf']}; raise chromosome_length or mutation_rate"
            )
    return results


def read_dosages(prefix: Path, variant_index: np.ndarray) -> np.ndarray:
    """ALT counts (people x len(variant_index), float64) of selected variants of a file set."""
    from regwas.io.plink import read_variant_rows

    return read_variant_rows(prefix, variant_index).T.astype(np.float64)


def default_threads() -> int:
    """CPU count available to this process (for callers that want 'all cores')."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1

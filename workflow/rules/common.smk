# Paths, wildcards and target lists shared by the rules. No statistics here.
import datetime as _dt
import glob
import os
from pathlib import Path

SIM = "results/simulated"
COHORT = "results/cohort"
SPACE_DIR = "results/{modality}/{space}"
LOGS = "results/logs"
BENCH = "results/benchmarks"
CHROMS = [str(c) for c in config["chromosomes"]]
# the GWAS on a GPU: gwas.backend torch requests one per job (sbatch --gpus=1 under the slurm
# executor; gpu=0 adds no flag) and runs in the torch env
GWAS_GPU = 1 if config["gwas"]["backend"] == "torch" else 0
GWAS_ENV = "../../envs/torch.yaml" if GWAS_GPU else "../../envs/genetics.yaml"
MODALITIES = list(config["modalities"])
# brain spaces made by the chunked ANTs registration (one registration serves all three);
# VoxelMorph starts from the ants_affine images, so it needs that store too
_BRAIN = config["spaces"].get("brain", [])
BRAIN_ANTS_SPACES = [
    s
    for s in ("ants_affine", "ants_syn", "ants_syn_jac")
    if s in _BRAIN
    or (s == "ants_affine" and {"voxelmorph", "voxelmorph_jac"} & set(_BRAIN))
]


wildcard_constraints:
    modality="[a-z0-9]+",
    space="[a-z0-9_]+",
    chrom="[0-9A-Za-z]+",


def spaces(modality):
    """Spaces compared for a modality: native first, then registration methods."""
    return list(config["spaces"][modality])


# VoxelMorph jobs ask for a GPU (sbatch --gpus=1) when the config says so
VOXELMORPH_GPU = 1 if config["brain"]["voxelmorph"]["gpu"] else 0


def brain_ants_chunk_dirs(wildcards):
    """The ANTs chunk folders, known once the checkpoint brain_chunks has read the manifest."""
    table = checkpoints.brain_chunks.get().output[0]
    with open(table) as fh:
        n = 1 + max(int(line.split("\t")[1]) for line in list(fh)[1:])
    return [f"results/brain/ants_chunks/{k}" for k in range(n)]


def registered_spaces(modality):
    return [s for s in spaces(modality) if s != "native"]


def cohort_inputs():
    """The cohort's raw input files: simulated ones, or a real cohort's from config."""
    if config["cohort"] == "simulate":
        return {
            "samples": f"{SIM}/samples.tsv",
            "diagnoses": f"{SIM}/diagnoses.tsv",
            "genotypes": f"{SIM}/genotypes/chr{{chrom}}",
            "manifests": {m: f"{SIM}/{m}.manifest.tsv" for m in MODALITIES},
        }
    inputs = config["inputs"]
    missing = [k for k in ("samples", "diagnoses", "genotypes") if k not in inputs]
    missing += [
        f"manifests.{m}" for m in MODALITIES if m not in inputs.get("manifests", {})
    ]
    if missing:
        raise ValueError(f"config: cohort is 'files' but inputs lack {missing}")
    return {
        "samples": inputs["samples"],
        "diagnoses": inputs["diagnoses"],
        "genotypes": inputs["genotypes"],
        "manifests": {m: inputs["manifests"][m] for m in MODALITIES},
    }


def genotype_files(chrom):
    prefix = cohort_inputs()["genotypes"].replace("{chrom}", str(chrom))
    return [f"{prefix}.{ext}" for ext in ("bed", "bim", "fam")]


def all_genotype_files():
    return [f for c in CHROMS for f in genotype_files(c)]


def truth_files(wildcards=None):
    """Planted truth, available when the cohort is simulated."""
    if config["cohort"] == "simulate":
        return {
            "causal": f"{SIM}/truth/causal_variants.tsv",
            "diseases": f"{SIM}/truth/disease_effects.tsv",
        }
    return {}


def space_results(modality, space):
    d = f"results/{modality}/{space}"
    return [
        f"{d}/gwas.tsv.gz",
        f"{d}/lead_variants.tsv",
        f"{d}/phewas.tsv",
        f"{d}/probes.tsv",
    ]


def plot_targets(modality):
    out = []
    for space in spaces(modality):
        out += expand(
            "results/plots/{m}/{s}.{kind}.png",
            m=modality,
            s=space,
            kind=["manhattan", "phewas_qq"],
        )
    out += expand(
        "results/plots/{m}/{s}_vs_native.miami.png",
        m=modality,
        s=registered_spaces(modality),
    )
    out.append(f"results/plots/{modality}/qq.png")
    return out


def modality_targets(modality):
    out = []
    for space in spaces(modality):
        out += space_results(modality, space)
    return out + plot_targets(modality)


def all_targets():
    out = ["results/comparison.tsv"]
    for modality in MODALITIES:
        out += modality_targets(modality)
    return out


# Report pieces and the bundle (workflow/rules/bundle.smk)


def bundle_date():
    """bundle.date, else SOURCE_DATE_EPOCH, else today (UTC): fixed once per snakemake run."""
    if config["bundle"].get("date"):
        return str(config["bundle"]["date"])
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (
        _dt.datetime.fromtimestamp(int(epoch), _dt.UTC)
        if epoch
        else _dt.datetime.now(_dt.UTC)
    )
    return now.date().isoformat()


def ssf_files(modality, space):
    d = f"results/{modality}/{space}"
    return [f"{d}/gwas_ssf.tsv.gz", f"{d}/gwas_ssf.tsv.gz-meta.yaml"]


def report_targets():
    """Outputs of this file that `rule all` builds (the bundle is its own target)."""
    out = [
        "results/headline.tsv",
        "results/plots/headline.png",
        "results/resources.tsv",
    ]
    out += [f"results/report/{t}.html" for t in ("headline", "comparison", "resources")]
    for m in MODALITIES:
        for s in spaces(m):
            out += ssf_files(m, s)
    return out


def bundle_results():
    """Aggregate result files that go into the bundle (paths inside it are the same)."""
    out = [
        "results/comparison.tsv",
        "results/probe_comparison.tsv",
        "results/headline.tsv",
    ]
    out += ["results/plots/headline.png", "results/plots/headline.pdf"]
    for m in MODALITIES:
        for s in spaces(m):
            d = f"results/{m}/{s}"
            out += space_results(m, s) + ssf_files(m, s)
            out += [f"{d}/gwas_summary.json", f"{d}/lead_linkage.tsv"]
        pngs = plot_targets(m)
        out += pngs + [p.removesuffix(".png") + ".pdf" for p in pngs]
    return out


def bundle_report(wildcards=None):
    """The snakemake report archive, when one was built before the bundle."""
    path = config["bundle"]["report"]
    return [path] if os.path.exists(path) else []


def individual_files(wildcards=None):
    """Per-person files, only when the config opts in."""
    if not config["bundle"]["include_individual_level"]:
        return []
    out = [f"{COHORT}/samples.tsv"]
    for m in MODALITIES:
        out += [f"results/{m}/{s}/embeddings.adjusted.parquet" for s in spaces(m)]
    return out


# the per-rule conda env files, recorded in the bundle
BUNDLE_ENVS = sorted(glob.glob(os.path.join(workflow.basedir, "envs", "*.yaml")))

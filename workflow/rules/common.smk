# Paths, wildcards, facts derived from the config, and target lists shared by the rules. No
# statistics here. The results layout is defined once, here: every rule builds its paths from
# these names and helpers, and passes them on through input/output/params.
import datetime as _dt
import glob
import os
from pathlib import Path

RESULTS = "results"
SIM = f"{RESULTS}/simulated"
COHORT = f"{RESULTS}/cohort"
SPACE_DIR = f"{RESULTS}/{{modality}}/{{space}}"
PLOT_DIR = f"{RESULTS}/plots/{{modality}}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
MODALITIES = list(config["modalities"])
# brain spaces made by the chunked ANTs registration (one registration serves all three);
# VoxelMorph starts from the ants_affine images, so it needs that store too
# and, for its Dice QC, the labels warped by the affine stage (ants_affine_labels, not a space)
_BRAIN = config["spaces"].get("brain", [])
BRAIN_VOXELMORPH = bool({"voxelmorph", "voxelmorph_jac"} & set(_BRAIN))
VOXELMORPH_DICE = BRAIN_VOXELMORPH and bool(config["brain"]["dice"])
BRAIN_ANTS_SPACES = [
    s
    for s in ("ants_affine", "ants_syn", "ants_syn_jac")
    if s in _BRAIN or (s == "ants_affine" and BRAIN_VOXELMORPH)
] + (["ants_affine_labels"] if VOXELMORPH_DICE else [])


# the template / warp-grid figure: one subject's non-rigid warp by each method in the config
WARP_METHODS = [
    m
    for m, wanted in (
        ("ants_syn", {"ants_syn", "ants_syn_jac"}),
        ("voxelmorph", {"voxelmorph", "voxelmorph_jac"}),
    )
    if wanted & set(_BRAIN)
]


def warp_example_inputs(wildcards=None):
    out = {"template": "results/brain/template"}
    if "voxelmorph" in WARP_METHODS:
        out["affine"] = "results/brain/ants_affine/data.npy"
        out["model"] = "results/brain/voxelmorph/registration_model.pt"
    return out


# the brain config without the VoxelMorph section, for the template, native and ANTs jobs: a
# change of VoxelMorph's budget must not rerun them
BRAIN_ANTS_CONFIG = {k: v for k, v in config["brain"].items() if k != "voxelmorph"}


# the cardiac config without the VoxelMorph section, for the native and deepcycle jobs: a
# change of VoxelMorph's settings must not rerun them
CARDIAC_STORE_CONFIG = {k: v for k, v in config["cardiac"].items() if k != "voxelmorph"}


def voxelmorph_labels(wildcards=None):
    """The affine stage's warped labels (VoxelMorph's Dice QC), when brain.dice is on."""
    return ["results/brain/ants_affine_labels/data.npy"] if VOXELMORPH_DICE else []


# --- representations: represent.method, and represent.baseline beside it --------------------
# The primary method's analysis of a space lives in results/{modality}/{space}/ (beside the
# space's array store); the baseline's in results/{modality}/{space}.{baseline}/, which holds
# everything from the embeddings on and reads the store of {space}. An "analysis" below is such
# a folder name: a space, or a stored space with the baseline's suffix.
METHOD = config["represent"]["method"]
BASELINE = config["represent"]["baseline"]
# (regwas.config's validation says so first, when regwas is importable)
if BASELINE == METHOD:
    raise ValueError(
        f"config: represent.baseline is {BASELINE!r}, the same as represent.method"
    )
# space wildcards: a space, or an analysis of the baseline (stores are never suffixed)
SPACE_NAME = "[a-z0-9_]+"
BASELINE_SUFFIX = rf"(?:\.{BASELINE})?" if BASELINE else ""
ANALYSIS_NAME = f"{SPACE_NAME}{BASELINE_SUFFIX}"
# the native analysis a Miami plot draws below: native, or native.{baseline}
NATIVE_ANALYSIS = f"native{BASELINE_SUFFIX}"
# the analyses that embed_baseline makes ({space}.{baseline}); none without a baseline (the
# rule exists either way, so that the workflow profile may size it; "(?!)" matches nothing)
BASELINE_ANALYSIS = rf"{SPACE_NAME}\.{BASELINE}" if BASELINE else "(?!)"


wildcard_constraints:
    modality="[a-z0-9]+",
    space=ANALYSIS_NAME,
    chrom="[0-9A-Za-z]+",
    chroms="[0-9A-Za-z]+(?:_[0-9A-Za-z]+)*",


def space_file(name, modality="{modality}", space="{space}"):
    """results/{modality}/{space}/<name>; wildcards stay open unless a value is given."""
    path = f"{SPACE_DIR}/{name}"
    return path.replace("{modality}", modality).replace("{space}", space)


def plot_file(name, modality="{modality}"):
    """results/plots/{modality}/<name>."""
    return f"{PLOT_DIR}/{name}".replace("{modality}", modality)


def spaces(modality):
    """Spaces compared for a modality: native first, then registration methods."""
    return list(config["spaces"][modality])


# VoxelMorph jobs ask for a GPU (sbatch --gpus=1) when the config says so
VOXELMORPH_GPU = 1 if config["brain"]["voxelmorph"]["gpu"] else 0
CARDIAC_VOXELMORPH_GPU = 1 if config["cardiac"]["voxelmorph"]["gpu"] else 0


def brain_ants_chunk_dirs(wildcards):
    """The ANTs chunk folders, known once the checkpoint brain_chunks has read the manifest."""
    table = checkpoints.brain_chunks.get().output[0]
    with open(table) as fh:
        n = 1 + max(int(line.split("\t")[1]) for line in list(fh)[1:])
    return [f"results/brain/ants_chunks/{k}" for k in range(n)]


def registered_spaces(modality):
    return [s for s in spaces(modality) if s != "native"]


def base_space(analysis):
    """The space of an analysis: its array store's folder (native.pca -> native; as
    regwas.io.analysis, which the workflow does not import)."""
    return analysis.split(".", 1)[0]


def analysis_method(analysis):
    """The representation method of an analysis: the baseline's when suffixed."""
    return analysis.split(".", 1)[1] if "." in analysis else METHOD


def native_of(analysis):
    """The native analysis a registered one is compared with: native, same method."""
    return f"native{analysis[len(base_space(analysis)) :]}"


def method_analysis(space, method):
    """The analysis of a stored space by ``method`` (the primary's, else the baseline's)."""
    return space if method == METHOD else f"{space}.{method}"


# what the embed rules (represent.smk) write and read, by the method of the analysis
def embed_outputs(method):
    """The files an embed job of ``method`` writes into its analysis folder."""
    out = {}
    if method == "autoencoder":
        out = {
            "model": space_file("model.pt"),
            "training_log": space_file("training_log.tsv"),
            "reconstruction": space_file("reconstruction_qc.tsv"),
            "examples": space_file("reconstruction_examples.npz"),
        }
    return {**out, "embeddings": space_file("embeddings.parquet")}


def embed_config(method):
    """The represent section an embed job of ``method`` reads: that method, and no
    represent.baseline (turning the baseline on or off reruns no primary embedding)."""
    cfg = {k: v for k, v in config["represent"].items() if k != "baseline"}
    return {**cfg, "method": method}


def embed_gpu(method):
    return (
        1
        if method == "autoencoder" and config["represent"]["autoencoder"]["gpu"]
        else 0
    )


def embed_env(method):
    return (
        "../../envs/torch.yaml" if method == "autoencoder" else "../../envs/stats.yaml"
    )


def analyses(modality):
    """The analyses of a modality: its spaces (represent.method), then, with
    represent.baseline, the baseline's analysis of each stored space."""
    out = spaces(modality)
    if BASELINE:
        out += [
            f"{s}.{BASELINE}" for s in spaces(modality) if stored_space(modality, s)
        ]
    return out


def registered_analyses(modality):
    return [a for a in analyses(modality) if base_space(a) != "native"]


def all_spaces():
    """(modality, analysis) pairs in the order of the comparison table (without a baseline,
    the analyses are the spaces)."""
    return [(m, a) for m in MODALITIES for a in analyses(m)]


# --- DropFuse: a space of every modality that lists it, trained on their stores together ---
DROPFUSE = "dropfuse"
DROPFUSE_MODALITIES = [m for m in MODALITIES if DROPFUSE in spaces(m)]
DROPFUSE_INPUTS = config["represent"]["dropfuse"]["inputs"]


def check_dropfuse():
    if not DROPFUSE_MODALITIES:
        return
    if len(DROPFUSE_MODALITIES) < 2:
        raise ValueError(
            f"config: only {DROPFUSE_MODALITIES[0]} lists the space dropfuse; DropFuse fuses "
            "two or more modalities (add dropfuse to another modality's spaces, or remove it)"
        )
    for m in DROPFUSE_MODALITIES:
        source = DROPFUSE_INPUTS.get(m)
        if source is None or source == DROPFUSE or source not in spaces(m):
            raise ValueError(
                f"config: represent.dropfuse.inputs.{m} must name one of {m}'s other spaces "
                f"({', '.join(s for s in spaces(m) if s != DROPFUSE)}), got {source!r}"
            )


check_dropfuse()


def stored_space(modality, space):
    """False for spaces whose embeddings come from elsewhere (DropFuse), with no array store."""
    return space != DROPFUSE


# --- chromosomes: one source ---------------------------------------------------------------
# A simulated cohort has chromosomes 1..simulate.genotypes.n_chromosomes, and X with
# simulate.genotypes.chrx (the simulator writes all of them). `chromosomes`, the ones read and
# tested, defaults to all of those and may name a subset (config/test.yaml simulates 22 and
# analyses 3); a real cohort (cohort: files) names its own, default 1..22. X is written "X".


def simulated_chromosomes():
    n = int(config["simulate"]["genotypes"]["n_chromosomes"])
    x = ["X"] if config["simulate"]["genotypes"]["chrx"] else []
    return [str(c) for c in range(1, n + 1)] + x


def analysed_chromosomes():
    if config["cohort"] != "simulate":
        return [str(c) for c in config.get("chromosomes", range(1, 23))]
    simulated = simulated_chromosomes()
    chosen = [str(c).upper() for c in config.get("chromosomes", simulated)]
    unknown = [c for c in chosen if c not in simulated]
    if unknown:
        raise ValueError(
            f"config: chromosomes {unknown} are not simulated (simulate.genotypes.n_chromosomes "
            f"is {config['simulate']['genotypes']['n_chromosomes']}, chrx is "
            f"{config['simulate']['genotypes']['chrx']}); leave `chromosomes` out to analyse "
            "all of them"
        )
    return chosen


CHROMS = analysed_chromosomes()


# --- GWAS shards: the chromosomes one gwas_chrom job tests -----------------------------------
# gwas.chromosomes_per_job chromosomes in a row of CHROMS, one job each: gwas/chr{chroms}.parquet
# with the chromosomes joined by "_" (gwas/chr7.parquet: chromosome 7 alone, the default). Any
# such name is a valid target, so one chromosome can always be re-run on its own.


def gwas_shards():
    n = int(config["gwas"]["chromosomes_per_job"])
    return ["_".join(CHROMS[i : i + n]) for i in range(0, len(CHROMS), n)]


def shard_chromosomes(chroms):
    """The chromosomes of a shard name ("1_2_3" -> ["1", "2", "3"])."""
    return chroms.split("_")


GWAS_SHARDS = gwas_shards()


# --- the GWAS backend ----------------------------------------------------------------------
# numpy: the genetics env, no GPU. torch: the torch env and one GPU per job (sbatch --gpus=1
# under the slurm executor). auto: the torch env, no GPU requested; it uses CUDA when the
# job's machine has a device, else numpy (the job log names the device it used).
GWAS_GPU = 1 if config["gwas"]["backend"] == "torch" else 0
GWAS_ENV = (
    "../../envs/genetics.yaml"
    if config["gwas"]["backend"] == "numpy"
    else "../../envs/torch.yaml"
)
# gwas keys read only after the per-chromosome tests (by gwas_merge and gwas_leads): left out of
# gwas_chrom's params so that changing them does not rerun the GWAS itself
# (and chromosomes_per_job: a shard's name says which chromosomes it tests)
GWAS_AFTER_TEST = (
    "p_threshold",
    "clump",
    "cluster_max_distance",
    "chromosomes_per_job",
)
GWAS_LEADS_ONLY = ("clump", "cluster_max_distance")


def gwas_config(without=()):
    return {k: v for k, v in config["gwas"].items() if k not in without}


# the HWE groups of the whole cohort, found once (rule hwe_groups) for every GWAS job
HWE_KEYS = ("hwe_p", "hwe_groups", "hwe_pcs", "hwe_max_groups", "hwe_min_group")


# --- the cohort's files --------------------------------------------------------------------


def simulated_manifests():
    """Manifests the simulator writes: one per simulated modality, only when it renders them."""
    sim = config["simulate"]
    if not sim["render"]:
        return []
    return [f"{SIM}/{m}.manifest.tsv" for m in sim["modalities"]]


def simulated_extra_truth():
    """Truth files only some modalities' renderers write (the cine's true phase per frame)."""
    sim = config["simulate"]
    if sim["render"] and "cardiac" in sim["modalities"]:
        return [f"{SIM}/truth/cardiac_phase.tsv"]
    return []


def cardiac_phase_truth(wildcards=None):
    """The simulated cine's true phase per frame (DeepCycle QC), when the cohort is simulated."""
    if config["cohort"] == "simulate":
        return {"truth": f"{SIM}/truth/cardiac_phase.tsv"}
    return {}


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


def relatedness_keep_file():
    """The keep list that replaces the kinship computation, when config names one."""
    keep = config["cohort_qc"]["relatedness"]["keep_file"]
    return [] if keep is None else [keep]


def cohort_manifests(wildcards):
    """One manifest per analysed modality. A simulated cohort has one only for a modality it
    renders: anything that needs another stops here, before any job runs, saying why."""
    if config["cohort"] == "simulate":
        sim = config["simulate"]
        if not sim["render"]:
            raise ValueError(
                f"config: modalities {MODALITIES} need rendered records, but simulate.render is "
                "false (the simulation then writes genotypes, tables and truth only). Set "
                "simulate.render: true, or ask for the simulation alone: "
                f"snakemake {SIM}/samples.tsv"
            )
        unrendered = [m for m in MODALITIES if m not in sim["modalities"]]
        if unrendered:
            raise ValueError(
                f"config: modalities {unrendered} are not simulated (simulate.modalities is "
                f"{sim['modalities']}); add them there"
            )
    return list(cohort_inputs()["manifests"].values())


# the files of each genotype format (as regwas.io.genotypes.FORMATS)
GENOTYPE_FORMATS = {
    "bed": ("bed", "bim", "fam"),
    "pgen": ("pgen", "pvar", "psam"),
    "bgen": ("bgen", "sample"),
}


def genotype_files(chrom):
    """The files of one chromosome's genotype file set: the format named by the prefix's
    extension (.bed/.pgen/.bgen), else the one whose genotype file exists (PLINK 1 when
    none does yet, e.g. before the simulation); regwas refuses two formats under one prefix.
    """
    prefix = cohort_inputs()["genotypes"].replace("{chrom}", str(chrom))
    fmt = next((f for f in GENOTYPE_FORMATS if prefix.endswith(f".{f}")), None)
    if fmt is not None:
        prefix = prefix[: -len(fmt) - 1]
    else:
        fmt = next(
            (f for f in GENOTYPE_FORMATS if os.path.exists(f"{prefix}.{f}")), "bed"
        )
    return [f"{prefix}.{ext}" for ext in GENOTYPE_FORMATS[fmt]]


def all_genotype_files():
    files = [f for c in CHROMS for f in genotype_files(c)]
    if config["cohort"] == "files":
        # a real cohort's genotypes are inputs, not outputs: a chromosome without its files
        # stops the plan here, in one line naming the chromosome and the config keys
        missing = [c for c in CHROMS if not all(map(os.path.exists, genotype_files(c)))]
        if missing:
            raise ValueError(
                f"config: chromosomes {missing} have no genotype file set (e.g. "
                f"{genotype_files(missing[0])[0][:-4]}.bed, .bim, .fam; inputs.genotypes is "
                f"{config['inputs']['genotypes']!r}); name the chromosomes you have in "
                "`chromosomes`"
            )
    return files


def truth_files(wildcards=None):
    """Planted truth, available when the cohort is simulated."""
    if config["cohort"] == "simulate":
        return {
            "causal": f"{SIM}/truth/causal_variants.tsv",
            "diseases": f"{SIM}/truth/disease_effects.tsv",
        }
    return {}


# --- targets -------------------------------------------------------------------------------

# the per-space results, by name; compare reads each as a named input list (one per space)
SPACE_RESULTS = {
    "gwas": "gwas.tsv.gz",
    "summary": "gwas_summary.json",
    "leads": "lead_variants.tsv",
    "phewas": "phewas.tsv",
    "probes": "probes.tsv",
}


def per_space(kind):
    """One result kind of every (modality, analysis), in the order of all_spaces()."""
    return [space_file(SPACE_RESULTS[kind], m, s) for m, s in all_spaces()]


def space_results(modality, space):
    return [space_file(name, modality, space) for name in SPACE_RESULTS.values()]


# modalities stored as images (2D slices or volumes): they get registration overlays
IMAGE_MODALITIES = {"brain", "cardiac", "dxa"}


def image_spaces(modality):
    """The spaces of an image modality shown as overlays (Jacobian maps and fused latent
    spaces are not images)."""
    return [
        s
        for s in spaces(modality)
        if not s.endswith("_jac") and stored_space(modality, s)
    ]


# the method whose analyses write a model, training log and reconstructions (one per space)
AUTOENCODER = "autoencoder" in (METHOD, BASELINE)


def miami_name(analysis):
    """{space}_vs_native: a registered analysis over the native one of its method
    (median_beat_vs_native, median_beat.pca_vs_native.pca)."""
    return f"{analysis}_vs_{native_of(analysis)}"


def qq_label(modality, analysis):
    """An analysis in the QQ plot's legend: the space, and its method beside a baseline."""
    if not BASELINE or not stored_space(modality, analysis):
        return analysis
    return f"{base_space(analysis)} ({analysis_method(analysis)})"


def plot_targets(modality):
    out = []
    for analysis in analyses(modality):
        out += [
            plot_file(f"{analysis}.{kind}.png", modality)
            for kind in ("manhattan", "phewas_qq")
        ]
    out += [
        plot_file(f"{miami_name(a)}.miami.png", modality)
        for a in registered_analyses(modality)
    ]
    out.append(plot_file("qq.png", modality))
    if AUTOENCODER:
        # one figure per stored space, from whichever analysis uses the autoencoder
        out += [
            plot_file(f"{s}.autoencoder.png", modality)
            for s in spaces(modality)
            if stored_space(modality, s)
        ]
    if modality in IMAGE_MODALITIES:
        out.append(plot_file("overlays.png", modality))
    if modality == "brain" and WARP_METHODS:
        out.append(plot_file("warp_grid.png", modality))
    return out


def modality_targets(modality):
    out = []
    for analysis in analyses(modality):
        out += space_results(modality, analysis)
    return out + plot_targets(modality)


def dropfuse_targets():
    if not DROPFUSE_MODALITIES:
        return []
    out = [f"{RESULTS}/{DROPFUSE}/{f}" for f in ("retrieval.json", "training_log.tsv")]
    return out + [
        f"{RESULTS}/plots/{DROPFUSE}/lead_clusters.{x}" for x in ("png", "pdf")
    ]


def all_targets():
    out = [f"{RESULTS}/comparison.tsv", *dropfuse_targets()]
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
    for m, a in all_spaces():
        out += ssf_files(m, a)
    return out


def bundle_results():
    """Aggregate result files that go into the bundle (paths inside it are the same)."""
    out = [
        "results/comparison.tsv",
        "results/probe_comparison.tsv",
        "results/headline.tsv",
    ]
    out += ["results/plots/headline.png", "results/plots/headline.pdf"]
    out += dropfuse_targets()
    for m in MODALITIES:
        for a in analyses(m):
            d = f"results/{m}/{a}"
            out += space_results(m, a) + ssf_files(m, a)
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
        out += [f"results/{m}/{a}/embeddings.adjusted.parquet" for a in analyses(m)]
    return out


# the per-rule conda env files, recorded in the bundle
BUNDLE_ENVS = sorted(glob.glob(os.path.join(workflow.basedir, "envs", "*.yaml")))

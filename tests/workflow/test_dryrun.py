"""Dry runs (`snakemake -n`, nothing executes) of configs that change what the workflow
plans: the simulation without rendering, and the one source of the chromosome list."""

import shlex
import subprocess
from pathlib import Path

import yaml
from workflow_helpers import ROOT, TEST_CONFIG, output, snakemake


def dry_run(tmp_path: Path, changes: dict, *args: str) -> tuple[int, str]:
    """`snakemake -n -p` of config/test.yaml with ``changes`` merged in (section by section)."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    for section, values in changes.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        elif values is None:
            config.pop(section, None)
        else:
            config[section] = values
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(
        tmp_path / "wd", "--configfile", str(path), "-n", "-p", *args, check=False, timeout=300
    )
    return result.returncode, output(result)


def job_block(output: str, rule: str) -> str:
    return output.split(f"\nrule {rule}:", 1)[1].split("\n\n", 1)[0]


def test_simulation_without_rendering_declares_no_manifests(tmp_path):
    """simulate.render: false writes no manifests, so the rule declares none: the simulation
    alone plans fine, and the whole workflow stops before any job, naming the key."""
    code, out = dry_run(tmp_path, {"simulate": {"render": False}}, "results/simulated/samples.tsv")
    assert code == 0, out[-3000:]
    block = job_block(out, "simulate")
    assert "manifest" not in block and "genotypes/chr22.bed" in block
    code, out = dry_run(tmp_path, {"simulate": {"render": False}})
    assert code != 0
    assert "simulate.render is false" in out and "results/cohort" not in out.split("Error")[0]


def test_a_modality_that_is_not_simulated_stops_the_plan(tmp_path):
    code, out = dry_run(tmp_path, {"simulate": {"modalities": ["brain"]}})
    assert code != 0 and "modalities ['ecg'] are not simulated" in out


def gwas_shards(output: str) -> list[str]:
    """The chromosome groups of the planned gwas_chrom jobs (wildcard chroms)."""
    blocks = [b for b in output.split("\nrule ")[1:] if b.startswith("gwas_chrom:")]
    return sorted({b.split("chroms=")[1].split()[0].rstrip(",") for b in blocks})


def test_chromosomes_default_to_the_simulated_ones(tmp_path):
    """Without `chromosomes`, a simulated cohort analyses every simulated chromosome
    (simulate.genotypes.n_chromosomes is the one source); naming one that is not simulated is
    an error before anything runs."""
    code, out = dry_run(
        tmp_path, {"chromosomes": None, "simulate": {"genotypes": {"n_chromosomes": 2}}}
    )
    assert code == 0, out[-3000:]
    assert gwas_shards(out) == ["1_2"]  # config/test.yaml: 2 chromosomes per GWAS job
    assert len([b for b in out.split("\nrule ")[1:] if b.startswith("gwas_chrom:")]) == 2
    assert "genotypes/chr3.bed" not in job_block(out, "simulate")
    code, out = dry_run(
        tmp_path, {"chromosomes": [1, 3], "simulate": {"genotypes": {"n_chromosomes": 2}}}
    )
    assert code != 0 and "chromosomes ['3'] are not simulated" in out


def test_gwas_jobs_group_chromosomes(tmp_path):
    """gwas.chromosomes_per_job chromosomes in a row per GWAS job (the last group may be
    shorter), and each space's merge reads exactly its groups."""
    for per_job, shards in (
        (1, ["1", "2", "3", "X"]),
        (2, ["1_2", "3_X"]),
        (3, ["1_2_3", "X"]),
        (5, ["1_2_3_X"]),
    ):
        code, out = dry_run(tmp_path, {"gwas": {"chromosomes_per_job": per_job}})
        assert code == 0, out[-3000:]
        assert gwas_shards(out) == shards
        merge = job_block(out, "gwas_merge")
        inputs = merge.split("input: ")[1].split("\n")[0].split(", ")
        assert sorted(inputs) == sorted(
            f"results/ecg/{space}/gwas/chr{s}.parquet"
            for s in shards
            for space in [merge.split("results/ecg/")[1].split("/")[0]]
        )
        assert "results/cohort/hwe_groups.tsv" in job_block(out, "gwas_chrom")


def test_chromosome_x_is_simulated_and_analysed(tmp_path):
    """simulate.genotypes.chrx adds chrX to the simulation and, without `chromosomes`, to the
    GWAS shards; `chromosomes` may name it (x or X); without chrx naming it is an error."""
    sim = {"simulate": {"genotypes": {"n_chromosomes": 2, "chrx": True}}}
    code, out = dry_run(tmp_path, {"chromosomes": None, **sim})
    assert code == 0, out[-3000:]
    assert gwas_shards(out) == ["1_2", "X"]  # config/test.yaml: 2 chromosomes per GWAS job
    assert "genotypes/chrX.bed" in job_block(out, "simulate")
    code, out = dry_run(tmp_path, {"chromosomes": [2, "x"], **sim})
    assert code == 0, out[-3000:]
    assert gwas_shards(out) == ["2_X"]
    code, out = dry_run(
        tmp_path, {"chromosomes": [1, "X"], "simulate": {"genotypes": {"n_chromosomes": 2}}}
    )
    assert code != 0 and "chromosomes ['X'] are not simulated" in out


def test_dropfuse_is_a_space_of_each_modality_it_covers(tmp_path):
    """A modality lists dropfuse among its spaces: one dropfuse job feeds every covered
    modality's dropfuse embeddings (no embed job for them) and the spine runs on them; one
    modality alone, or a missing input space, stops the plan naming the key."""
    sim = {"modalities": ["ecg", "brain"]}
    spaces = {"ecg": ["native", "median_beat", "dropfuse"], "brain": ["native", "dropfuse"]}
    inputs = {"dropfuse": {"inputs": {"ecg": "median_beat", "brain": "native"}}}
    base = {"modalities": ["ecg", "brain"], "simulate": sim, "spaces": spaces}
    code, out = dry_run(tmp_path, {**base, "represent": inputs})
    assert code == 0, out[-3000:]
    assert out.count("\nrule dropfuse:") == 1
    block = job_block(out, "dropfuse")
    assert "results/ecg/median_beat/data.npy" in block and "results/brain/native/data.npy" in block
    assert "results/brain/dropfuse/embeddings.parquet" in block
    embeds = [b for b in out.split("\nrule ")[1:] if b.startswith("embed:")]
    assert len(embeds) == 3 and not any("dropfuse" in b.split("output:")[1] for b in embeds)
    assert "results/ecg/dropfuse/gwas.tsv.gz" in out
    # with autoencoders, the stored spaces get their training figure; the fused ones have none
    code, out = dry_run(tmp_path, {**base, "represent": {**inputs, "method": "autoencoder"}})
    assert code == 0, out[-3000:]
    embeds = [b for b in out.split("\nrule ")[1:] if b.startswith("embed:")]
    assert len(embeds) == 3 and "results/plots/ecg/median_beat.autoencoder.png" in out
    assert "dropfuse.autoencoder" not in out and "dropfuse/model.pt" not in out
    code, out = dry_run(
        tmp_path, {**base, "spaces": {**spaces, "brain": ["native"]}, "represent": inputs}
    )
    assert code != 0 and "only ecg lists the space dropfuse" in out
    code, out = dry_run(
        tmp_path, {**base, "represent": {"dropfuse": {"inputs": {"ecg": "median_beat"}}}}
    )
    assert (
        code != 0 and "represent.dropfuse.inputs.brain must name one of brain's other spaces" in out
    )


def test_a_config_typo_is_one_line(tmp_path):
    """A misspelt key, top-level or nested, stops the run in one line naming the key and the
    allowed ones (Snakemake's own validation printed the whole schema: 4,188 lines)."""
    for changes, key in (
        ({"modalitiez": ["ecg"]}, "'modalitiez'"),
        ({"gwas": {"backnd": 1}}, "'gwas.backnd'"),
    ):
        code, out = dry_run(tmp_path, changes)
        assert code != 0
        errors = [line for line in out.splitlines() if "invalid configuration" in line]
        assert len(errors) == 1 and f"unknown key {key}" in errors[0] and "allowed: " in errors[0]
        assert len(out.splitlines()) <= 5, out[:3000]
    code, out = dry_run(tmp_path, {"seed": "one"})
    assert code != 0 and "key 'seed'" in out and len(out.splitlines()) <= 5


def test_a_real_cohort_without_a_chromosome_stops_the_plan(tmp_path):
    """cohort: files with a chromosome whose genotype files are not there: one error naming the
    chromosome and inputs.genotypes, before any job (and no results folder)."""
    for c in (1, 2):
        for ext in ("bed", "bim", "fam"):
            (tmp_path / f"chr{c}.{ext}").write_text("")
    for name in ("s.tsv", "d.tsv", "ecg.tsv"):
        (tmp_path / name).write_text("sample_id\n")
    inputs = {
        "genotypes": f"{tmp_path}/chr{{chrom}}",
        "samples": f"{tmp_path}/s.tsv",
        "diagnoses": f"{tmp_path}/d.tsv",
        "manifests": {"ecg": f"{tmp_path}/ecg.tsv"},
    }
    changes = {"cohort": "files", "modalities": ["ecg"], "spaces": {"ecg": ["native"]}}
    code, out = dry_run(tmp_path, {**changes, "chromosomes": [1, 2, 3], "inputs": inputs})
    assert code != 0 and "chromosomes ['3'] have no genotype file set" in out, out[-2000:]
    assert "inputs.genotypes" in out and not (tmp_path / "wd" / "results").exists()
    code, out = dry_run(tmp_path, {**changes, "chromosomes": [1, 2], "inputs": inputs})
    assert code == 0, out[-3000:]


def test_cardiac_and_dxa_spaces_are_planned(tmp_path):
    """cardiac (native, deepcycle) and dxa (native, rigid) go through the spine: their stores,
    every per-space result, overlays and comparison are planned; the simulation declares the
    cine's true phase, which DeepCycle's QC reads."""
    changes = {
        "modalities": ["cardiac", "dxa"],
        "spaces": {"cardiac": ["native", "deepcycle"], "dxa": ["native", "rigid"]},
        "simulate": {
            "modalities": ["cardiac", "dxa"],
            "imaged_fraction": {"cardiac": 0.5, "dxa": 0.5},
            "factors": {"causal_per_modality": {"cardiac": 1, "dxa": 1}},
        },
    }
    code, out = dry_run(tmp_path, changes)
    assert code == 0, out[-3000:]
    for rule in ("dxa_native", "dxa_rigid", "cardiac_native", "cardiac_deepcycle"):
        assert f"\nrule {rule}:" in out, rule
    assert "truth/cardiac_phase.tsv" in job_block(out, "simulate")
    assert "truth/cardiac_phase.tsv" in job_block(out, "cardiac_deepcycle")
    assert "samples.tsv" in job_block(out, "cardiac_deepcycle")  # BMI: the rigid step's exemplar
    for target in (
        "results/cardiac/deepcycle/gwas.tsv.gz",
        "results/dxa/rigid/probes.tsv",
        "results/plots/cardiac/overlays.png",
        "results/plots/dxa/rigid_vs_native.miami.png",
    ):
        assert target in out, target


def test_cardiac_voxelmorph_spaces_are_planned(tmp_path):
    """The cardiac voxelmorph spaces: training and inference read the deepcycle store, its qc
    and the samples table (the exemplar); both spaces go through the spine; the overlays show
    the warped cines, not the Jacobian maps; the brain's VoxelMorph is not planned."""
    changes = {
        "modalities": ["cardiac"],
        "spaces": {"cardiac": ["native", "deepcycle", "voxelmorph", "voxelmorph_jac"]},
        "simulate": {
            "modalities": ["cardiac"],
            "factors": {"causal_per_modality": {"cardiac": 1}},
        },
    }
    code, out = dry_run(tmp_path, changes)
    assert code == 0, out[-3000:]
    for rule in ("cardiac_deepcycle", "cardiac_voxelmorph_train", "cardiac_voxelmorph_apply"):
        assert f"\nrule {rule}:" in out, rule
    assert "rule brain_voxelmorph" not in out
    train = job_block(out, "cardiac_voxelmorph_train")
    for path in (
        "results/cardiac/deepcycle/data.npy",
        "results/cardiac/deepcycle/qc.tsv",
        "results/cohort/samples.tsv",
        "results/cardiac/voxelmorph/registration_model.pt",
    ):
        assert path in train, path
    apply = job_block(out, "cardiac_voxelmorph_apply")
    assert "results/cardiac/voxelmorph_jac/data.npy" in apply
    for target in (
        "results/cardiac/voxelmorph/gwas.tsv.gz",
        "results/cardiac/voxelmorph_jac/probes.tsv",
        "results/plots/cardiac/voxelmorph_jac_vs_native.miami.png",
    ):
        assert target in out, target
    overlays = job_block(out, "plot_overlays")
    assert "results/cardiac/voxelmorph/data.npy" in overlays
    assert "voxelmorph_jac" not in overlays


def test_voxelmorph_spaces_plan_with_the_autoencoder(tmp_path):
    """The VoxelMorph spaces plan training, inference, the affine-stage labels and the warp
    grid, and their registration model is not confused with the autoencoder's model.pt of the
    voxelmorph space (represent.method: autoencoder, as config/gpu.yaml sets)."""
    changes = {
        "modalities": ["brain"],
        "spaces": {"brain": ["native", "ants_affine", "voxelmorph", "voxelmorph_jac"]},
        "simulate": {"modalities": ["brain"]},
        "represent": {"method": "autoencoder"},
    }
    code, out = dry_run(tmp_path, changes)
    assert code == 0, out[-3000:]
    for rule in ("brain_voxelmorph_train", "brain_voxelmorph_apply", "brain_warp_example"):
        assert f"rule {rule}:" in out, rule
    assert "results/brain/ants_affine_labels/data.npy" in out
    assert "results/plots/brain/warp_grid.png" in out
    # the autoencoder of the voxelmorph space and the registration model are different files
    assert "results/brain/voxelmorph/model.pt" in out
    assert "results/brain/voxelmorph/registration_model.pt" in out


def jobs_by_space(output: str, rule: str) -> dict[str, list[str]]:
    """The planned jobs of ``rule`` by their space wildcard (the blocks' text)."""
    out: dict[str, list[str]] = {}
    for block in output.split("\nrule ")[1:]:
        if block.startswith(f"{rule}:"):
            space = block.split("space=")[1].split()[0].rstrip(",")
            out.setdefault(space, []).append(block)
    return out


def test_a_baseline_method_runs_beside_the_primary(tmp_path):
    """represent.baseline: every stored space analysed a second time, by the other method, in
    results/ecg/{space}.{baseline}/ from the same store; the primary keeps its paths; Miami
    plots pair registered with native within a method; the autoencoder's figure reads
    whichever analysis trained it; the same method twice stops the plan in one line."""
    code, out = dry_run(tmp_path, {"represent": {"method": "autoencoder", "baseline": "pca"}})
    assert code == 0, out[-3000:]
    embed, baseline = jobs_by_space(out, "embed"), jobs_by_space(out, "embed_baseline")
    assert sorted(embed) == ["median_beat", "native"]
    assert sorted(baseline) == ["median_beat.pca", "native.pca"]
    for space in ("native", "median_beat"):
        (primary,), (second,) = embed[space], baseline[f"{space}.pca"]
        assert f"input: results/ecg/{space}/data.npy, results/ecg/{space}/samples.tsv" in second
        assert f"results/ecg/{space}/model.pt" in primary.split("output:")[1]
        outputs = second.split("output: ")[1].split("\n")[0]
        assert outputs == f"results/ecg/{space}.pca/embeddings.parquet"
    analyses = ["median_beat", "median_beat.pca", "native", "native.pca"]
    for rule in ("adjust", "gwas_merge", "gwas_leads", "phewas", "probes", "gwas_ssf"):
        assert sorted(jobs_by_space(out, rule)) == analyses, rule
    assert {s: len(b) for s, b in jobs_by_space(out, "gwas_chrom").items()} == dict.fromkeys(
        analyses, 2
    )
    assert ".pca/data.npy" not in out and ".pca/samples.tsv" not in out
    miami = {s: b[0] for s, b in jobs_by_space(out, "plot_miami").items()}
    assert sorted(miami) == ["median_beat", "median_beat.pca"]
    assert "results/ecg/native.pca/gwas.tsv.gz" in miami["median_beat.pca"]
    assert "plots/ecg/median_beat.pca_vs_native.pca.miami.png" in miami["median_beat.pca"]
    assert "results/ecg/native/gwas.tsv.gz" in miami["median_beat"]
    figures = jobs_by_space(out, "plot_autoencoder")
    assert sorted(figures) == ["median_beat", "native"]
    assert "input: results/ecg/native/training_log.tsv" in figures["native"][0]
    compare = job_block(out, "compare")
    assert "results/ecg/native.pca/probes.tsv" in compare
    assert "results/ecg/native/samples.tsv" in compare
    qq = job_block(out, "plot_qq").split("input: ")[1].split("\n")[0]
    assert sorted(qq.split(", ")) == sorted(f"results/ecg/{a}/gwas.tsv.gz" for a in analyses)

    # the autoencoder as the baseline: its files and figure come from {space}.autoencoder/
    code, out = dry_run(tmp_path, {"represent": {"baseline": "autoencoder"}})
    assert code == 0, out[-3000:]
    (second,) = jobs_by_space(out, "embed_baseline")["native.autoencoder"]
    assert "results/ecg/native.autoencoder/model.pt" in second
    assert "model.pt" not in jobs_by_space(out, "embed")["native"][0]
    figure = jobs_by_space(out, "plot_autoencoder")["native"][0]
    assert "input: results/ecg/native.autoencoder/training_log.tsv" in figure
    assert "plots/ecg/native.autoencoder.png" in figure

    code, out = dry_run(tmp_path, {"represent": {"baseline": "pca"}})  # method: pca
    assert code != 0
    assert "represent.baseline is 'pca', the same as represent.method" in out


def test_dropfuse_has_no_baseline_analysis(tmp_path):
    """DropFuse's embeddings come from the dropfuse rule: the baseline analyses the stored
    spaces only, and the fused space is compared with the primary method's native."""
    spaces = {"ecg": ["native", "median_beat", "dropfuse"], "brain": ["native", "dropfuse"]}
    represent = {
        "dropfuse": {"inputs": {"ecg": "median_beat", "brain": "native"}},
        "baseline": "autoencoder",
    }
    changes = {
        "modalities": ["ecg", "brain"],
        "simulate": {"modalities": ["ecg", "brain"]},
        "spaces": spaces,
        "represent": represent,
    }
    code, out = dry_run(tmp_path, changes)
    assert code == 0, out[-3000:]
    baseline = [b.split("modality=")[1].split(",")[0] + "/" + s
                for s, bs in jobs_by_space(out, "embed_baseline").items() for b in bs]  # fmt: skip
    assert sorted(baseline) == [
        "brain/native.autoencoder",
        "ecg/median_beat.autoencoder",
        "ecg/native.autoencoder",
    ]
    assert "dropfuse.autoencoder" not in out and "dropfuse/model.pt" not in out
    miami = [b.split("output: ")[1].split(",")[0] for bs in jobs_by_space(out, "plot_miami").values() for b in bs]  # fmt: skip
    assert sorted(miami) == [
        "results/plots/brain/dropfuse_vs_native.miami.png",
        "results/plots/ecg/dropfuse_vs_native.miami.png",
        "results/plots/ecg/median_beat.autoencoder_vs_native.autoencoder.miami.png",
        "results/plots/ecg/median_beat_vs_native.miami.png",
    ]


def demo_snakemake_flags(*make_args: str) -> list[str]:
    """The options `make demo` passes to its workflow run (between `--cores` and
    `--configfile`), read from `make -n demo`."""
    printed = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "demo", "CORES=4", *make_args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    line = next(s for s in printed.splitlines() if "snakemake --cores" in s and " rules" in s)
    words = shlex.split(line.split("snakemake", 1)[1].split("||", 1)[0])
    return words[: words.index("--configfile")]


def test_make_demo_runs_every_job_on_one_thread(tmp_path):
    """make demo caps every job at one thread (MAX_THREADS, default 1) although the workflow
    profile gives cohort 4: the job snakemake plans with make demo's options has 1 thread; with
    MAX_THREADS= it has the profile's."""
    threads = yaml.safe_load((ROOT / "workflow/profiles/default/config.yaml").read_text())
    assert threads["set-threads"]["cohort"] == 4
    for make_args, want in [((), 1), (("MAX_THREADS=",), 4)]:
        flags = demo_snakemake_flags(*make_args)
        code, out = dry_run(tmp_path, {}, *flags, "results/cohort/samples.tsv")
        assert code == 0, out[-3000:]
        block = job_block(out, "cohort")
        # snakemake prints a job's threads only when there is more than one
        assert (f"threads: {want}" in block) if want > 1 else ("threads:" not in block), block

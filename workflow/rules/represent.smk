# Representations: embeddings per modality x space (represent.method: PCA, the baseline, or an
# equal-capacity autoencoder per space; the same latent size and budget in every space of a
# modality), then confounder removal. With represent.baseline, rule embed_baseline embeds every
# stored space a second time by that method, into results/{modality}/{space}.{baseline}/ (the
# same store; common.smk, "representations"), and the whole spine runs on it too.
#
# The autoencoder also writes its model, training log and reconstruction QC beside the
# embeddings, and keeps a checkpoint (.autoencoder.ckpt.pt, not an output, so that a rerun of an
# interrupted job resumes from it). Its jobs run in the torch env and ask for one GPU when
# represent.autoencoder.gpu is true (threads, memory and time: workflow/profiles/default).


rule embed:
    input:
        data=space_file("data.npy"),
        samples=space_file("samples.tsv"),
    output:
        **embed_outputs(METHOD),
    log:
        f"{LOGS}/embed/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/embed/{{modality}}_{{space}}.tsv"
    wildcard_constraints:
        space=SPACE_NAME,
    conda:
        embed_env(METHOD)
    resources:
        gpu=embed_gpu(METHOD),
    params:
        cfg=embed_config(METHOD),
        seed=config["seed"],
    script:
        "../../scripts/embed.py"


# represent.baseline's analyses ({space}.{baseline}): the same stores, the other method
rule embed_baseline:
    input:
        # the store of the space: native.pca reads native's
        data=lambda w: space_file("data.npy", w.modality, base_space(w.space)),
        samples=lambda w: space_file("samples.tsv", w.modality, base_space(w.space)),
    output:
        **embed_outputs(BASELINE),
    log:
        f"{LOGS}/embed/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/embed/{{modality}}_{{space}}.tsv"
    wildcard_constraints:
        space=BASELINE_ANALYSIS,
    conda:
        embed_env(BASELINE)
    resources:
        gpu=embed_gpu(BASELINE),
    params:
        cfg=embed_config(BASELINE),
        seed=config["seed"],
    script:
        "../../scripts/embed.py"


# DropFuse (represent.dropfuse): one job trains the encoders of every modality that lists the
# dropfuse space and writes those spaces' embeddings; it runs only when such a space is asked for.
ruleorder: dropfuse > embed


rule dropfuse:
    input:
        data=[
            space_file("data.npy", m, DROPFUSE_INPUTS[m]) for m in DROPFUSE_MODALITIES
        ],
        samples=[
            space_file("samples.tsv", m, DROPFUSE_INPUTS[m])
            for m in DROPFUSE_MODALITIES
        ],
    output:
        embeddings=[
            space_file("embeddings.parquet", m, DROPFUSE) for m in DROPFUSE_MODALITIES
        ],
        samples=[space_file("samples.tsv", m, DROPFUSE) for m in DROPFUSE_MODALITIES],
        encoders=[f"{RESULTS}/{DROPFUSE}/{m}_encoder.pt" for m in DROPFUSE_MODALITIES],
        training_log=f"{RESULTS}/{DROPFUSE}/training_log.tsv",
        retrieval=f"{RESULTS}/{DROPFUSE}/retrieval.json",
    log:
        f"{LOGS}/{DROPFUSE}.log",
    benchmark:
        f"{BENCH}/{DROPFUSE}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1 if config["represent"]["autoencoder"]["gpu"] else 0,
    params:
        modalities=DROPFUSE_MODALITIES,
        cfg=config["represent"],
        seed=config["seed"],
    script:
        "../../scripts/dropfuse.py"


rule adjust:
    input:
        embeddings=space_file("embeddings.parquet"),
        samples=f"{COHORT}/samples.tsv",
    output:
        embeddings=space_file("embeddings.adjusted.parquet"),
        report=space_file("adjust_report.json"),
    log:
        f"{LOGS}/adjust/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/adjust/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/stats.yaml"
    params:
        cfg=config["adjust"],
        covariates=config["covariates"],
        seed=config["seed"],
    script:
        "../../scripts/adjust.py"

# Representations: embeddings per modality x space (PCA baseline, same size everywhere),
# then confounder removal.


rule embed:
    input:
        data=f"{SPACE_DIR}/data.npy",
        samples=f"{SPACE_DIR}/samples.tsv",
    output:
        f"{SPACE_DIR}/embeddings.parquet",
    log:
        f"{LOGS}/embed/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/embed/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        cfg=config["represent"],
        seed=config["seed"],
    script:
        "../../scripts/embed.py"


rule adjust:
    input:
        embeddings=f"{SPACE_DIR}/embeddings.parquet",
        samples=f"{COHORT}/samples.tsv",
    output:
        embeddings=f"{SPACE_DIR}/embeddings.adjusted.parquet",
        report=f"{SPACE_DIR}/adjust_report.json",
    log:
        f"{LOGS}/adjust/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/adjust/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=config["adjust"],
        seed=config["seed"],
    script:
        "../../scripts/adjust.py"

# Representations: embeddings per modality x space (PCA baseline, same size everywhere),
# then confounder removal.


rule embed:
    input:
        data=space_file("data.npy"),
        samples=space_file("samples.tsv"),
    output:
        space_file("embeddings.parquet"),
    log:
        f"{LOGS}/embed/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/embed/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/stats.yaml"
    params:
        cfg=config["represent"],
        seed=config["seed"],
    script:
        "../../scripts/embed.py"


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

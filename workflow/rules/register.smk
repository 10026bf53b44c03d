# Registration: per modality and space, an array store results/{modality}/{space}/data.npy
# (N x shape, float32, memory-mappable) + samples.tsv (the row order) + qc.tsv.


rule ecg_native:
    input:
        manifest=f"{COHORT}/ecg.manifest.tsv",
    output:
        data=space_file("data.npy", "ecg", "native"),
        samples=space_file("samples.tsv", "ecg", "native"),
    log:
        f"{LOGS}/ecg_native.log",
    benchmark:
        f"{BENCH}/ecg_native.tsv"
    conda:
        "../../envs/ecg.yaml"
    script:
        "../../scripts/ecg_native.py"


rule ecg_median_beat:
    input:
        manifest=f"{COHORT}/ecg.manifest.tsv",
    output:
        data=space_file("data.npy", "ecg", "median_beat"),
        samples=space_file("samples.tsv", "ecg", "median_beat"),
        qc=space_file("qc.tsv", "ecg", "median_beat"),
    log:
        f"{LOGS}/ecg_median_beat.log",
    benchmark:
        f"{BENCH}/ecg_median_beat.tsv"
    conda:
        "../../envs/ecg.yaml"
    params:
        cfg=config["ecg"]["median_beat"],
    script:
        "../../scripts/ecg_median_beat.py"

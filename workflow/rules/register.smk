# Registration: per modality and space, an array store results/{modality}/{space}/data.npy
# (N x shape, float32, memory-mappable) + samples.tsv (the row order) + qc.tsv.


rule ecg_native:
    input:
        manifest=f"{COHORT}/ecg.manifest.tsv",
    output:
        data="results/ecg/native/data.npy",
        samples="results/ecg/native/samples.tsv",
    log:
        f"{LOGS}/ecg_native.log",
    benchmark:
        f"{BENCH}/ecg_native.tsv"
    conda:
        "../../envs/ecg.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../../scripts/ecg_native.py"


rule ecg_median_beat:
    input:
        manifest=f"{COHORT}/ecg.manifest.tsv",
    output:
        data="results/ecg/median_beat/data.npy",
        samples="results/ecg/median_beat/samples.tsv",
        qc="results/ecg/median_beat/qc.tsv",
    log:
        f"{LOGS}/ecg_median_beat.log",
    benchmark:
        f"{BENCH}/ecg_median_beat.tsv"
    conda:
        "../../envs/ecg.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cfg=config["ecg"]["median_beat"],
    script:
        "../../scripts/ecg_median_beat.py"

# Associations: latent GWAS sharded per chromosome, PheWAS, linear probes, and the
# registered-vs-native comparison.


rule gwas_chrom:
    input:
        embeddings=f"{SPACE_DIR}/embeddings.adjusted.parquet",
        samples=f"{COHORT}/samples.tsv",
        genotypes=lambda w: genotype_files(w.chrom),
    output:
        f"{SPACE_DIR}/gwas/chr{{chrom}}.parquet",
    log:
        f"{LOGS}/gwas/{{modality}}_{{space}}_chr{{chrom}}.log",
    benchmark:
        f"{BENCH}/gwas/{{modality}}_{{space}}_chr{{chrom}}.tsv"
    conda:
        GWAS_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GWAS_GPU,
    params:
        cfg=config["gwas"],
        bfile=lambda w: cohort_inputs()["genotypes"].replace("{chrom}", w.chrom),
    script:
        "../../scripts/gwas_chrom.py"


rule gwas_merge:
    input:
        expand(
            f"{SPACE_DIR}/gwas/chr{{chrom}}.parquet", chrom=CHROMS, allow_missing=True
        ),
    output:
        gwas=f"{SPACE_DIR}/gwas.tsv.gz",
        summary=f"{SPACE_DIR}/gwas_summary.json",
    log:
        f"{LOGS}/gwas_merge/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/gwas_merge/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/genetics.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=config["gwas"],
    script:
        "../../scripts/gwas_merge.py"


rule gwas_leads:
    input:
        gwas=f"{SPACE_DIR}/gwas.tsv.gz",
        embeddings=f"{SPACE_DIR}/embeddings.adjusted.parquet",
        genotypes=all_genotype_files(),
    output:
        leads=f"{SPACE_DIR}/lead_variants.tsv",
        linkage=f"{SPACE_DIR}/lead_linkage.tsv",
    log:
        f"{LOGS}/gwas_leads/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/gwas_leads/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/genetics.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=config["gwas"],
        bfile_pattern=lambda w: cohort_inputs()["genotypes"],
    script:
        "../../scripts/gwas_leads.py"


rule phewas:
    input:
        embeddings=f"{SPACE_DIR}/embeddings.adjusted.parquet",
        samples=f"{COHORT}/samples.tsv",
        diagnoses=f"{COHORT}/diagnoses.tsv",
    output:
        f"{SPACE_DIR}/phewas.tsv",
    log:
        f"{LOGS}/phewas/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/phewas/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=config["phewas"],
        seed=config["seed"],
    script:
        "../../scripts/phewas.py"


rule comparison_samples:
    input:
        manifest=f"{COHORT}/{{modality}}.manifest.tsv",
        stores=lambda w: expand(
            f"results/{w.modality}/{{s}}/samples.tsv", s=spaces(w.modality)
        ),
    output:
        people="results/{modality}/comparison_samples.tsv",
        exclusions="results/{modality}/exclusions.tsv",
    log:
        f"{LOGS}/comparison_samples/{{modality}}.log",
    benchmark:
        f"{BENCH}/comparison_samples/{{modality}}.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spaces=lambda w: spaces(w.modality),
    script:
        "../../scripts/comparison_samples.py"


rule probes:
    input:
        embeddings=f"{SPACE_DIR}/embeddings.parquet",
        samples=f"{COHORT}/samples.tsv",
        people="results/{modality}/comparison_samples.tsv",
    output:
        f"{SPACE_DIR}/probes.tsv",
    log:
        f"{LOGS}/probes/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/probes/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=config["probes"],
        seed=config["seed"],
    script:
        "../../scripts/probes.py"


rule compare:
    input:
        unpack(truth_files),
        spaces=[f for m in MODALITIES for s in spaces(m) for f in space_results(m, s)],
        summaries=[
            f"results/{m}/{s}/gwas_summary.json" for m in MODALITIES for s in spaces(m)
        ],
    output:
        table=report(
            "results/comparison.tsv",
            caption="../report/comparison.rst",
            category="Comparison",
        ),
        probes="results/probe_comparison.tsv",
    log:
        f"{LOGS}/compare.log",
    benchmark:
        f"{BENCH}/compare.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        spaces={m: spaces(m) for m in MODALITIES},
        cfg=config["compare"],
        probes_cfg=config["probes"],
        seed=config["seed"],
    script:
        "../../scripts/compare.py"

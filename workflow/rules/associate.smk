# Associations: latent GWAS sharded by chromosomes, PheWAS, linear probes, and the
# registered-vs-native comparison.


# One job per shard of chromosomes (gwas.chromosomes_per_job; common.smk, GWAS_SHARDS): one
# set-up, then each chromosome in turn, one Parquet of their rows.
rule gwas_chrom:
    input:
        embeddings=space_file("embeddings.adjusted.parquet"),
        samples=f"{COHORT}/samples.tsv",
        hwe_groups=f"{COHORT}/hwe_groups.tsv",
        genotypes=lambda w: [
            f for c in shard_chromosomes(w.chroms) for f in genotype_files(c)
        ],
    output:
        space_file("gwas/chr{chroms}.parquet"),
    log:
        f"{LOGS}/gwas/{{modality}}_{{space}}_chr{{chroms}}.log",
    benchmark:
        f"{BENCH}/gwas/{{modality}}_{{space}}_chr{{chroms}}.tsv"
    conda:
        GWAS_ENV
    resources:
        gpu=GWAS_GPU,
    params:
        cfg=gwas_config(without=GWAS_AFTER_TEST),
        covariates=config["covariates"],
        bfiles=lambda w: [
            cohort_inputs()["genotypes"].replace("{chrom}", c)
            for c in shard_chromosomes(w.chroms)
        ],
        seed=config["seed"],
    script:
        "../../scripts/gwas_chrom.py"


# The HWE groups (gwas.hwe_groups) of the whole cohort, for every GWAS job of every space (a
# job whose analysed samples are not the whole cohort finds its own).
rule hwe_groups:
    input:
        samples=f"{COHORT}/samples.tsv",
    output:
        f"{COHORT}/hwe_groups.tsv",
    log:
        f"{LOGS}/hwe_groups.log",
    benchmark:
        f"{BENCH}/hwe_groups.tsv"
    conda:
        "../../envs/genetics.yaml"
    params:
        cfg={k: config["gwas"][k] for k in HWE_KEYS},
        seed=config["seed"],
    script:
        "../../scripts/hwe_groups.py"


rule gwas_merge:
    input:
        expand(
            space_file("gwas/chr{chroms}.parquet"),
            chroms=GWAS_SHARDS,
            allow_missing=True,
        ),
    output:
        gwas=space_file(SPACE_RESULTS["gwas"]),
        summary=space_file(SPACE_RESULTS["summary"]),
    log:
        f"{LOGS}/gwas_merge/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/gwas_merge/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/genetics.yaml"
    params:
        cfg=gwas_config(without=GWAS_LEADS_ONLY),
    script:
        "../../scripts/gwas_merge.py"


rule gwas_leads:
    input:
        gwas=space_file(SPACE_RESULTS["gwas"]),
        embeddings=space_file("embeddings.adjusted.parquet"),
        genotypes=all_genotype_files(),
    output:
        leads=space_file(SPACE_RESULTS["leads"]),
        linkage=space_file("lead_linkage.tsv"),
    log:
        f"{LOGS}/gwas_leads/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/gwas_leads/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/genetics.yaml"
    params:
        cfg=config["gwas"],
        bfile_pattern=lambda w: cohort_inputs()["genotypes"],
    script:
        "../../scripts/gwas_leads.py"


rule phewas:
    input:
        embeddings=space_file("embeddings.adjusted.parquet"),
        samples=f"{COHORT}/samples.tsv",
        diagnoses=f"{COHORT}/diagnoses.tsv",
    output:
        space_file(SPACE_RESULTS["phewas"]),
    log:
        f"{LOGS}/phewas/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/phewas/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/stats.yaml"
    params:
        cfg=config["phewas"],
        covariates=config["covariates"],
        seed=config["seed"],
    script:
        "../../scripts/phewas.py"


rule comparison_samples:
    input:
        manifest=f"{COHORT}/{{modality}}.manifest.tsv",
        stores=lambda w: expand(
            f"{RESULTS}/{w.modality}/{{s}}/samples.tsv", s=spaces(w.modality)
        ),
    output:
        people=f"{RESULTS}/{{modality}}/comparison_samples.tsv",
        exclusions=f"{RESULTS}/{{modality}}/exclusions.tsv",
    log:
        f"{LOGS}/comparison_samples/{{modality}}.log",
    benchmark:
        f"{BENCH}/comparison_samples/{{modality}}.tsv"
    conda:
        "../../envs/stats.yaml"
    params:
        spaces=lambda w: spaces(w.modality),
    script:
        "../../scripts/comparison_samples.py"


rule probes:
    input:
        embeddings=space_file("embeddings.parquet"),
        samples=f"{COHORT}/samples.tsv",
        people=f"{RESULTS}/{{modality}}/comparison_samples.tsv",
    output:
        space_file(SPACE_RESULTS["probes"]),
    log:
        f"{LOGS}/probes/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/probes/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/stats.yaml"
    params:
        cfg=config["probes"],
        seed=config["seed"],
    script:
        "../../scripts/probes.py"


# One named input list per kind of per-space result, each in the order of params.spaces (the
# analyses: the rows of comparison.tsv, with represent.baseline a row per space and method):
# the script pairs them up, the library reads exactly these files.
rule compare:
    input:
        unpack(truth_files),
        gwas=per_space("gwas"),
        summary=per_space("summary"),
        leads=per_space("leads"),
        phewas=per_space("phewas"),
        probes=per_space("probes"),
        samples=[space_file("samples.tsv", m, base_space(a)) for m, a in all_spaces()],
        embeddings=[space_file("embeddings.parquet", m, s) for m, s in all_spaces()],
        people=expand(f"{RESULTS}/{{m}}/comparison_samples.tsv", m=MODALITIES),
        exclusions=expand(f"{RESULTS}/{{m}}/exclusions.tsv", m=MODALITIES),
        genotypes=all_genotype_files(),
    output:
        table=report(
            f"{RESULTS}/comparison.tsv",
            caption="../report/comparison.rst",
            category="Comparison",
        ),
        probes=f"{RESULTS}/probe_comparison.tsv",
    log:
        f"{LOGS}/compare.log",
    benchmark:
        f"{BENCH}/compare.tsv"
    conda:
        "../../envs/stats.yaml"
    params:
        spaces=all_spaces(),
        modalities=MODALITIES,
        chromosomes=CHROMS,
        threshold=config["gwas"]["p_threshold"],
        clump=config["gwas"]["clump"],
        bfile_pattern=lambda w: cohort_inputs()["genotypes"],
    script:
        "../../scripts/compare.py"

# Cohort: simulate the embedded biobank (cohort: simulate), then validate inputs and compute
# genetic principal components (the same stage serves a real cohort).


rule simulate:
    output:
        samples=f"{SIM}/samples.tsv",
        diagnoses=f"{SIM}/diagnoses.tsv",
        manifests=expand(
            f"{SIM}/{{m}}.manifest.tsv",
            m=config["simulate"].get("modalities", ["ecg", "brain"]),
        ),
        genotypes=expand(
            f"{SIM}/genotypes/chr{{chrom}}.{{ext}}",
            chrom=CHROMS,
            ext=["bed", "bim", "fam"],
        ),
        causal=f"{SIM}/truth/causal_variants.tsv",
        diseases=f"{SIM}/truth/disease_effects.tsv",
    log:
        f"{LOGS}/simulate.log",
    benchmark:
        f"{BENCH}/simulate.tsv"
    conda:
        "../../envs/simulate.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../../scripts/simulate.py"


rule cohort:
    input:
        samples=cohort_inputs()["samples"],
        diagnoses=cohort_inputs()["diagnoses"],
        manifests=list(cohort_inputs()["manifests"].values()),
        genotypes=all_genotype_files(),
    output:
        samples=f"{COHORT}/samples.tsv",
        diagnoses=f"{COHORT}/diagnoses.tsv",
        manifests=expand(f"{COHORT}/{{m}}.manifest.tsv", m=MODALITIES),
        pca=f"{COHORT}/pca.tsv",
    log:
        f"{LOGS}/cohort.log",
    benchmark:
        f"{BENCH}/cohort.tsv"
    conda:
        "../../envs/genetics.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        inputs=lambda w: cohort_inputs(),
    script:
        "../../scripts/cohort.py"

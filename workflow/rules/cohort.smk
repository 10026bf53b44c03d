# Cohort: simulate the embedded biobank (cohort: simulate), then validate inputs, remove
# relatives and compute genetic principal components (the same stage serves a real cohort).


rule simulate:
    output:
        samples=f"{SIM}/samples.tsv",
        diagnoses=f"{SIM}/diagnoses.tsv",
        manifests=simulated_manifests(),
        genotypes=expand(
            f"{SIM}/genotypes/chr{{chrom}}.{{ext}}",
            chrom=simulated_chromosomes(),
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
    params:
        cfg=config["simulate"],
        seed=config["seed"],
    script:
        "../../scripts/simulate.py"


rule cohort:
    input:
        samples=cohort_inputs()["samples"],
        diagnoses=cohort_inputs()["diagnoses"],
        manifests=cohort_manifests,
        genotypes=all_genotype_files(),
        keep=relatedness_keep_file(),
    output:
        samples=f"{COHORT}/samples.tsv",
        diagnoses=f"{COHORT}/diagnoses.tsv",
        manifests=expand(f"{COHORT}/{{m}}.manifest.tsv", m=MODALITIES),
        pca=f"{COHORT}/pca.tsv",
        related_pairs=f"{COHORT}/related_pairs.tsv",
        related_removed=f"{COHORT}/related_removed.tsv",
    log:
        f"{LOGS}/cohort.log",
    benchmark:
        f"{BENCH}/cohort.tsv"
    conda:
        "../../envs/genetics.yaml"
    params:
        inputs=lambda w: cohort_inputs(),
        chromosomes=CHROMS,
        cfg=config["cohort_qc"],
        seed=config["seed"],
    script:
        "../../scripts/cohort.py"

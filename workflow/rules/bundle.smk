# Report pieces and publication: GWAS-SSF summary statistics, the headline "did registration
# help?" table and figure, resource usage from the benchmark files, input checksums, and the
# bundle (results/bundle/regwas-<name>-<date>.tar.gz). `snakemake --report` is run after the
# workflow (Makefile demo) and the bundle includes it when it exists.
BUNDLE_DATE = bundle_date()
BUNDLE = f"results/bundle/regwas-{config['name']}-{BUNDLE_DATE}.tar.gz"
PROBE_KEYS = [f"{m}/{a}" for m, a in all_spaces()]


rule gwas_ssf:
    input:
        gwas=f"{SPACE_DIR}/gwas.tsv.gz",
    output:
        data=f"{SPACE_DIR}/gwas_ssf.tsv.gz",
        meta=f"{SPACE_DIR}/gwas_ssf.tsv.gz-meta.yaml",
    log:
        f"{LOGS}/gwas_ssf/{{modality}}_{{space}}.log",
    benchmark:
        f"{BENCH}/gwas_ssf/{{modality}}_{{space}}.tsv"
    conda:
        "../../envs/stats.yaml"
    params:
        cfg=config["bundle"],
        covariates=config["covariates"],
        date=BUNDLE_DATE,
        trait=lambda w: (
            f"latent space of {w.modality} ({base_space(w.space)} space): "
            f"{analysis_method(w.space)} embedding, "
            f"{config['represent']['latent_dim']} dimensions"
        ),
        notes=(
            "Multivariate test (MANOVA, Pillai's trace) of the whole latent space on each "
            "variant: beta is the equivalent standardised effect z/sqrt(n) of its p-value "
            "(unsigned), standard_error 1/sqrt(n); pillai, f_stat, df1, df2 follow."
        ),
    script:
        "../../scripts/gwas_ssf.py"


rule headline:
    input:
        comparison="results/comparison.tsv",
        probe_comparison="results/probe_comparison.tsv",
        probes=[f"results/{k}/probes.tsv" for k in PROBE_KEYS],
    output:
        table="results/headline.tsv",
        png=report(
            "results/plots/headline.png",
            caption="../report/headline.rst",
            category="1. Did registration help?",
        ),
        pdf="results/plots/headline.pdf",
    log:
        f"{LOGS}/headline.log",
    benchmark:
        f"{BENCH}/headline.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        probe_keys=PROBE_KEYS,
    script:
        "../../scripts/headline.py"


rule resource_usage:
    input:
        all_targets(),
        "results/headline.tsv",
        [f for m, a in all_spaces() for f in ssf_files(m, a)],
    output:
        "results/resources.tsv",
    log:
        f"{LOGS}/resources.log",
    conda:
        "../../envs/stats.yaml"
    params:
        benchmarks=BENCH,
    script:
        "../../scripts/resources.py"


rule report_tables:
    input:
        headline="results/headline.tsv",
        comparison="results/comparison.tsv",
        resources="results/resources.tsv",
    output:
        headline=report(
            "results/report/headline.html",
            caption="../report/headline_table.rst",
            category="1. Did registration help?",
        ),
        comparison=report(
            "results/report/comparison.html",
            caption="../report/comparison.rst",
            category="Comparison",
        ),
        resources=report(
            "results/report/resources.html",
            caption="../report/resources.rst",
            category="Resource usage",
        ),
    log:
        f"{LOGS}/report_tables.log",
    conda:
        "../../envs/stats.yaml"
    params:
        titles={
            "headline": "Did registration help? Registered vs native, every measure",
            "comparison": "Registered vs native: one row per modality and space",
            "resources": "Resource usage per step (benchmark files)",
        },
    script:
        "../../scripts/report_tables.py"


rule input_checksums:
    input:
        files=[
            cohort_inputs()["samples"],
            cohort_inputs()["diagnoses"],
            *all_genotype_files(),
            *cohort_inputs()["manifests"].values(),
        ],
        manifests=list(cohort_inputs()["manifests"].values()),
    output:
        "results/provenance/input_checksums.tsv",
    log:
        f"{LOGS}/input_checksums.log",
    benchmark:
        f"{BENCH}/input_checksums.tsv"
    conda:
        "../../envs/stats.yaml"
    script:
        "../../scripts/input_checksums.py"


rule bundle:
    input:
        results=bundle_results(),
        report=bundle_report,
        individual=individual_files,
        samples=f"{COHORT}/samples.tsv",
        checksums="results/provenance/input_checksums.tsv",
        resources="results/resources.tsv",
        envs=BUNDLE_ENVS,
    output:
        BUNDLE,
    log:
        f"{LOGS}/bundle.log",
    benchmark:
        f"{BENCH}/bundle.tsv"
    conda:
        "../../envs/stats.yaml"
    params:
        cfg=config["bundle"],
        config=config,
        date=BUNDLE_DATE,
        repo=lambda w, input: str(Path(input.envs[0]).parents[1]),
    script:
        "../../scripts/bundle.py"

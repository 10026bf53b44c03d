# Plots: Manhattan per modality x space, Miami (registered up, native down), QQ of all spaces
# of a modality, PheWAS QQ by phecode category. PNG for the report, PDF beside each PNG.


rule plot_manhattan:
    input:
        gwas=f"{SPACE_DIR}/gwas.tsv.gz",
        leads=f"{SPACE_DIR}/lead_variants.tsv",
    output:
        png=report(
            "results/plots/{modality}/{space}.manhattan.png",
            caption="../report/manhattan.rst",
            category="GWAS",
            subcategory="{modality}",
        ),
        pdf="results/plots/{modality}/{space}.manhattan.pdf",
    log:
        f"{LOGS}/plots/{{modality}}_{{space}}_manhattan.log",
    benchmark:
        f"{BENCH}/plots/{{modality}}_{{space}}_manhattan.tsv"
    conda:
        "../../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    script:
        "../../scripts/plot_manhattan.py"


rule plot_miami:
    input:
        top="results/{modality}/{space}/gwas.tsv.gz",
        bottom="results/{modality}/native/gwas.tsv.gz",
    output:
        png=report(
            "results/plots/{modality}/{space}_vs_native.miami.png",
            caption="../report/miami.rst",
            category="GWAS",
            subcategory="{modality}",
        ),
        pdf="results/plots/{modality}/{space}_vs_native.miami.pdf",
    log:
        f"{LOGS}/plots/{{modality}}_{{space}}_miami.log",
    benchmark:
        f"{BENCH}/plots/{{modality}}_{{space}}_miami.tsv"
    conda:
        "../../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    script:
        "../../scripts/plot_miami.py"


rule plot_qq:
    input:
        lambda w: expand(
            "results/{m}/{s}/gwas.tsv.gz", m=w.modality, s=spaces(w.modality)
        ),
    output:
        png=report(
            "results/plots/{modality}/qq.png",
            caption="../report/qq.rst",
            category="GWAS",
            subcategory="{modality}",
        ),
        pdf="results/plots/{modality}/qq.pdf",
    log:
        f"{LOGS}/plots/{{modality}}_qq.log",
    benchmark:
        f"{BENCH}/plots/{{modality}}_qq.tsv"
    conda:
        "../../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        labels=lambda w: spaces(w.modality),
    script:
        "../../scripts/plot_qq.py"


rule plot_phewas:
    input:
        f"{SPACE_DIR}/phewas.tsv",
    output:
        png=report(
            "results/plots/{modality}/{space}.phewas_qq.png",
            caption="../report/phewas.rst",
            category="PheWAS",
            subcategory="{modality}",
        ),
        pdf="results/plots/{modality}/{space}.phewas_qq.pdf",
    log:
        f"{LOGS}/plots/{{modality}}_{{space}}_phewas.log",
    benchmark:
        f"{BENCH}/plots/{{modality}}_{{space}}_phewas.tsv"
    conda:
        "../../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    script:
        "../../scripts/plot_phewas.py"

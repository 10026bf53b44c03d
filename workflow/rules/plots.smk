# Plots: Manhattan per modality x space, Miami (registered up, native down), QQ of all spaces
# of a modality, PheWAS QQ by phecode category. PNG for the report, PDF beside each PNG.
# With represent.baseline every analysis of the baseline (native.pca, ...) gets its own
# Manhattan and PheWAS QQ, its Miami plot sets it against the native analysis of the same
# method (median_beat.pca_vs_native.pca), and the QQ plot of a modality shows every analysis.


rule plot_manhattan:
    input:
        gwas=space_file(SPACE_RESULTS["gwas"]),
        leads=space_file(SPACE_RESULTS["leads"]),
    output:
        png=report(
            plot_file("{space}.manhattan.png"),
            caption="../report/manhattan.rst",
            category="GWAS",
            subcategory="{modality}",
        ),
        pdf=plot_file("{space}.manhattan.pdf"),
    log:
        f"{LOGS}/plots/{{modality}}_{{space}}_manhattan.log",
    benchmark:
        f"{BENCH}/plots/{{modality}}_{{space}}_manhattan.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        cfg=config["plots"],
        threshold=config["gwas"]["p_threshold"],
    script:
        "../../scripts/plot_manhattan.py"


# {native}: the native analysis of the registered one's method (native, or native.pca)
rule plot_miami:
    input:
        top=space_file(SPACE_RESULTS["gwas"]),
        bottom=space_file(SPACE_RESULTS["gwas"], space="{native}"),
    output:
        png=report(
            plot_file("{space}_vs_{native}.miami.png"),
            caption="../report/miami.rst",
            category="GWAS",
            subcategory="{modality}",
        ),
        pdf=plot_file("{space}_vs_{native}.miami.pdf"),
    log:
        f"{LOGS}/plots/{{modality}}_{{space}}_vs_{{native}}_miami.log",
    benchmark:
        f"{BENCH}/plots/{{modality}}_{{space}}_vs_{{native}}_miami.tsv"
    wildcard_constraints:
        native=NATIVE_ANALYSIS,
    conda:
        "../../envs/plots.yaml"
    params:
        cfg=config["plots"],
        threshold=config["gwas"]["p_threshold"],
    script:
        "../../scripts/plot_miami.py"


rule plot_qq:
    input:
        lambda w: [
            space_file(SPACE_RESULTS["gwas"], w.modality, a)
            for a in analyses(w.modality)
        ],
    output:
        png=report(
            plot_file("qq.png"),
            caption="../report/qq.rst",
            category="GWAS",
            subcategory="{modality}",
        ),
        pdf=plot_file("qq.pdf"),
    log:
        f"{LOGS}/plots/{{modality}}_qq.log",
    benchmark:
        f"{BENCH}/plots/{{modality}}_qq.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        labels=lambda w: [qq_label(w.modality, a) for a in analyses(w.modality)],
        cfg=config["plots"],
        threshold=config["gwas"]["p_threshold"],
    script:
        "../../scripts/plot_qq.py"


rule plot_phewas:
    input:
        space_file(SPACE_RESULTS["phewas"]),
    output:
        png=report(
            plot_file("{space}.phewas_qq.png"),
            caption="../report/phewas.rst",
            category="PheWAS",
            subcategory="{modality}",
        ),
        pdf=plot_file("{space}.phewas_qq.pdf"),
    log:
        f"{LOGS}/plots/{{modality}}_{{space}}_phewas.log",
    benchmark:
        f"{BENCH}/plots/{{modality}}_{{space}}_phewas.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        cfg=config["plots"],
    script:
        "../../scripts/plot_phewas.py"


rule plot_overlays:
    input:
        lambda w: [
            space_file("data.npy", w.modality, s) for s in image_spaces(w.modality)
        ],
    output:
        png=report(
            plot_file("overlays.png"),
            caption="../report/overlays.rst",
            category="Registration",
            subcategory="{modality}",
        ),
        pdf=plot_file("overlays.pdf"),
    log:
        f"{LOGS}/plots/{{modality}}_overlays.log",
    benchmark:
        f"{BENCH}/plots/{{modality}}_overlays.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        spaces=lambda w: image_spaces(w.modality),
        cfg=config["plots"],
    script:
        "../../scripts/plot_overlays.py"


# {space}.autoencoder.png: a stored space's model, from its analysis by the autoencoder (the
# primary one, or {space}.autoencoder when the autoencoder is the baseline)
rule plot_autoencoder:
    input:
        training_log=lambda w: space_file(
            "training_log.tsv", w.modality, method_analysis(w.space, "autoencoder")
        ),
        examples=lambda w: space_file(
            "reconstruction_examples.npz",
            w.modality,
            method_analysis(w.space, "autoencoder"),
        ),
    output:
        png=report(
            plot_file("{space}.autoencoder.png"),
            caption="../report/autoencoder.rst",
            category="Representations",
            subcategory="{modality}",
        ),
        pdf=plot_file("{space}.autoencoder.pdf"),
    log:
        f"{LOGS}/plots/{{modality}}_{{space}}_autoencoder.log",
    benchmark:
        f"{BENCH}/plots/{{modality}}_{{space}}_autoencoder.tsv"
    wildcard_constraints:
        space=SPACE_NAME,
    conda:
        "../../envs/plots.yaml"
    params:
        cfg=config["plots"],
    script:
        "../../scripts/plot_autoencoder.py"


rule plot_lead_clusters:
    input:
        unpack(truth_files),
        leads=[
            space_file(SPACE_RESULTS["leads"], m, DROPFUSE)
            for m in DROPFUSE_MODALITIES
        ],
    output:
        png=report(
            f"{RESULTS}/plots/{DROPFUSE}/lead_clusters.png",
            caption="../report/lead_clusters.rst",
            category="GWAS",
            subcategory=DROPFUSE,
        ),
        pdf=f"{RESULTS}/plots/{DROPFUSE}/lead_clusters.pdf",
    log:
        f"{LOGS}/plots/{DROPFUSE}_lead_clusters.log",
    benchmark:
        f"{BENCH}/plots/{DROPFUSE}_lead_clusters.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        modalities=DROPFUSE_MODALITIES,
        window_kb=config["gwas"]["clump"]["window_kb"],
        cfg=config["plots"],
    script:
        "../../scripts/plot_lead_clusters.py"


rule plot_warp_grid:
    input:
        "results/brain/warp_example.npz",
    output:
        png=report(
            plot_file("warp_grid.png", "brain"),
            caption="../report/warp_grid.rst",
            category="Registration",
            subcategory="brain",
        ),
        pdf=plot_file("warp_grid.pdf", "brain"),
    log:
        f"{LOGS}/plots/brain_warp_grid.log",
    benchmark:
        f"{BENCH}/plots/brain_warp_grid.tsv"
    conda:
        "../../envs/plots.yaml"
    params:
        cfg=config["plots"],
    script:
        "../../scripts/plot_warp_grid.py"

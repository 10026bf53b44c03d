"""Stage 9, plots: Manhattan, Miami, QQ and PheWAS QQ figures, registration overlays and warp grids (PNG + PDF), one module per
plot family plus the shared genome layout."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "autoencoder": ["read_examples", "autoencoder_figure", "autoencoder_plots"],
        "common": [
            "check_columns",
            "neg_log10_column",
            "thin_points",
            "save_figure",
            "category_colors",
            "points",
        ],
        "lead_clusters": [
            "lead_directions",
            "annotate",
            "lead_cluster_figure",
            "lead_cluster_plots",
        ],
        "genome": [
            "GWAS_COLUMNS",
            "LEAD_COLUMNS",
            "GwasFrame",
            "as_gwas_frame",
            "read_plot_gwas",
            "genome_layout",
            "xpos",
            "chrom_ticks",
            "prepare_leads",
        ],
        "manhattan_miami": ["manhattan_figure", "manhattan", "miami_figure", "miami"],
        "phewas": ["PHEWAS_COLUMNS", "phewas_qq_figure", "phewas_qq"],
        "qq_plot": ["qq_band", "draw_band", "qq_figure", "qq"],
        "registration": [
            "rgb_overlay",
            "overlay_subjects",
            "overlay_figure",
            "overlays",
            "warp_grid_figure",
            "warp_grid",
        ],
    },
)

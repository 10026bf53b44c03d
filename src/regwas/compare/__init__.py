"""Stage 8, compare: one row per modality x space of loci, planted truth recovered, PheWAS
hits, probe means and lambda GC; paired probe comparisons."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "probes": ["fold_values", "compare_probes"],
        "spaces": [
            "recovered_loci",
            "LD",
            "lambda_outside",
            "count_loci",
            "recovered_diseases",
            "compare_spaces",
        ],
        "summary": ["ROWS", "comparison_table", "duration", "summary_text", "main"],
    },
)

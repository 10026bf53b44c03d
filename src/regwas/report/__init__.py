"""The report: the headline "did registration help?" table and figure, the resource-usage
table from the benchmark files, and a reader of `snakemake --report` output (its entries)."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "headline": [
            "HEADLINE_COLUMNS",
            "headline_table",
            "headline_figure",
            "read_headline_inputs",
            "write_headline",
        ],
        "reader": ["report_entries", "report_html", "zip_members"],
        "resources": ["RESOURCE_COLUMNS", "read_benchmarks", "resource_table"],
        "tables": ["table_html", "write_table_html"],
    },
)

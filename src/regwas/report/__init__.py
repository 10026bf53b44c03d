"""The report: the headline "did registration help?" table and figure, the resource-usage
table from the benchmark files, and a reader of `snakemake --report` output (its entries)."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "headline": [
            "HEADLINE_COLUMNS",
            "COUNTS",
            "headline_table",
            "read_headline_inputs",
            "headline_figure",
            "write_headline",
        ],
        "reader": ["report_html", "report_entries", "zip_members"],
        "resources": ["RESOURCE_COLUMNS", "read_benchmarks", "resource_table"],
        "tables": ["STYLE", "table_html", "write_table_html"],
    },
)

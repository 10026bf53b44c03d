"""The workflow config: one JSON schema (src/regwas/schemas/config.schema.yaml) serves
snakemake's validate and the CLI; each stage validates its section against it."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "reference": ["reference_markdown", "REFERENCE_BEGIN", "REFERENCE_END", "update_readme"],
        "schema": [
            "SCHEMA_DIR",
            "load_schema",
            "section_schema",
            "section",
            "defaults",
            "validate_config",
            "load_config",
        ],
    },
)

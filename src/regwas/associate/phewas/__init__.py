"""Stage 6, PheWAS: ICD-10 diagnoses mapped to phecodes, a centroid direction per phecode
fitted on one half and tested on the other."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "association": [
            "COLUMNS",
            "phecode_seed",
            "split_halves",
            "centroid_projection",
            "assoc_phecode",
            "phewas",
        ],
        "phecodes": [
            "phecode_info",
            "phecode_family",
            "map_icd10",
            "case_status",
            "sex_labels",
            "EXCLUSION_REASONS",
        ],
    },
)

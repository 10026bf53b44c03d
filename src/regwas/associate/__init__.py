"""Stages 5-7: association of (adjusted) embeddings with genotypes (gwas), phecodes (phewas)
and phenotypes (probes). Each sub-package names its own API."""

from regwas._exports import lazy_api

__all__, __getattr__, __dir__ = lazy_api(
    __name__,
    {
        "probes": ["folds", "probe_phenotype", "probe_embeddings"],
    },
)

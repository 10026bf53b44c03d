"""Stages 5-7: association of (adjusted) embeddings with genotypes (gwas), phecodes (phewas)
and phenotypes (probes). Each sub-package names its own API."""

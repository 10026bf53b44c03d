"""Analysis names: the folders results/{modality}/{analysis}/ (one per space and representation
method). The primary method's analysis of a space is the space itself (``native``);
represent.baseline's carries the method after a dot (``native.pca``). Registered and native
analyses with the same suffix are compared. The workflow's common.smk parses the same names in
the same way (``base_space``, ``native_of``), without importing regwas."""

from __future__ import annotations


def split_analysis(analysis: str) -> tuple[str, str]:
    """(space, method suffix): ``"native"`` -> ``("native", "")``, ``"native.pca"`` ->
    ``("native", "pca")``."""
    space, _, suffix = analysis.partition(".")
    return space, suffix


def analysis_space(analysis: str) -> str:
    """The stored space of an analysis (its array store's folder): ``x.pca`` -> ``x``."""
    return split_analysis(analysis)[0]


def native_analysis(analysis: str) -> str:
    """The native analysis of the same method: ``median_beat`` -> ``native``,
    ``x.pca`` -> ``native.pca``."""
    _, suffix = split_analysis(analysis)
    return f"native.{suffix}" if suffix else "native"

"""The embedded synthetic biobank: genotypes, people, factors, diagnoses and rendered signals.

`regwas.simulate.simulate(cfg, seed, out_dir)` (in regwas.simulate.cohort) writes it all.
Renderers live in regwas.simulate.{modality} (FACTORS + render_{modality}).
"""

from __future__ import annotations

from typing import Any

__all__ = ["simulate"]


def __getattr__(name: str) -> Any:
    """Import the orchestrator lazily, so renderer modules import without it."""
    if name in __all__:
        from regwas.simulate import cohort

        return getattr(cohort, name)
    raise AttributeError(f"module 'regwas.simulate' has no attribute {name!r}")

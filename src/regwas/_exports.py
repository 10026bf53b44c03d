"""Lazy public APIs for the stage packages.

Each stage's ``__init__`` names its public API with :func:`lazy_api`; a name's submodule is
imported only when the name is used, so importing one stage never pulls in the third-party
libraries of another (the per-rule conda envs install one tool chain each).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_api(
    package: str, api: dict[str, list[str]]
) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package`` from {submodule: [names]}."""
    owner = {name: f"{package}.{module}" for module, names in api.items() for name in names}

    def __getattr__(name: str) -> object:
        if name in owner:
            return getattr(importlib.import_module(owner[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(owner)

    return sorted(owner), __getattr__, __dir__

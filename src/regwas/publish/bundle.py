"""The publication bundle: one deterministic .tar.gz of a run's aggregate results.

Layout (every path under one top folder ``regwas-<name>-<date>/``)::

    README.md            what each file is (first line warns when individual-level data is in)
    CITATION.cff         how to cite the results
    MANIFEST.sha256      sha256 of every other file (``sha256sum -c`` format)
    config.yaml          the resolved config (defaults filled in)
    results/...          summary statistics, GWAS-SSF files, leads, PheWAS, probes, comparison,
                         the headline table, plots: the workflow's own paths
    report/...           the `snakemake --report` archive, when one was built first
    provenance/...       software versions, env files, git state, input checksums, cohort size,
                         resource usage

Determinism: members are sorted by path, every member has mtime = the bundle's date (midnight
UTC), uid/gid 0, mode 0644, no user names; the gzip header has no timestamp or name. The same
files give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from regwas.errors import InputError
from regwas.io.atomic import atomic_path, sha256_file

MANIFEST = "MANIFEST.sha256"
README = "README.md"
CITATION = "CITATION.cff"
CONFIG = "config.yaml"
INDIVIDUAL_WARNING = (
    "WARNING: this bundle contains individual-level data (bundle.include_individual_level is "
    "true): it must not be shared beyond the cohort's data access agreement."
)

# (pattern on the path inside the bundle, description); the first match describes a file
DESCRIPTIONS: list[tuple[str, str]] = [
    (README, "this file: what each file of the bundle is"),
    (CITATION, "citation metadata (Citation File Format 1.2.0)"),
    (MANIFEST, "sha256 of every other file of the bundle (check with `regwas bundle verify`)"),
    (CONFIG, "the resolved workflow config (every default filled in)"),
    (
        "results/comparison.tsv",
        "registered vs native, one row per modality x space (x method, with represent.baseline)",
    ),
    (
        "results/probe_comparison.tsv",
        "linear-probe differences of each space against native (the same method)",
    ),
    ("results/headline.tsv", "did registration help? one row per modality x space x measure"),
    ("results/*/*/gwas.tsv.gz", "latent-space GWAS summary statistics (regwas contract)"),
    ("results/*/*/gwas_ssf.tsv.gz", "the summary statistics in the GWAS Catalog's GWAS-SSF format"),
    ("results/*/*/gwas_ssf.tsv.gz-meta.yaml", "GWAS-SSF metadata of the file beside it"),
    ("results/*/*/gwas_summary.json", "GWAS summary: variants tested, λGC, sample size"),
    ("results/*/*/lead_variants.tsv", "lead variants (clumped), with their locus"),
    ("results/*/*/lead_linkage.tsv", "LD clustering of the lead variants"),
    ("results/*/*/phewas.tsv", "PheWAS of the latent space on phecodes"),
    ("results/*/*/probes.tsv", "cross-validated linear probes (per-fold R² / AUC)"),
    ("results/plots/headline.*", "the headline figure: registered vs native for every measure"),
    ("results/plots/*/*.manhattan.*", "Manhattan plot of one space"),
    ("results/plots/*/*.miami.*", "Miami plot: a registered space up, native (same method) down"),
    ("results/plots/*/qq.*", "QQ plot of every space of a modality, with λGC"),
    ("results/plots/*/*.phewas_qq.*", "PheWAS QQ plot by phecode category"),
    ("report/*", "the Snakemake report (open report.html inside the archive)"),
    ("provenance/software.json", "Python, platform, every installed package (pip freeze)"),
    ("provenance/envs/*", "the per-rule conda environment files"),
    ("provenance/git.json", "git commit of the workflow and whether the work tree was dirty"),
    ("provenance/input_checksums.tsv", "sha256 and size of every input file (streamed)"),
    ("provenance/cohort.json", "number of people in the cohort (a count, no ids)"),
    ("provenance/resources.tsv", "time and memory per rule, from the benchmark files"),
    ("individual/*", "INDIVIDUAL-LEVEL DATA (included because the config opted in)"),
]

# which part of a bundle a path belongs to; `results` are compared by `regwas bundle diff`
RESULT_PREFIXES = ("results/",)


def part_of(path: str) -> str:
    """results, individual, report, provenance or meta (README, citation, manifest, config)."""
    if path.startswith(RESULT_PREFIXES):
        return "results"
    for prefix in ("individual", "report", "provenance"):
        if path.startswith(prefix + "/"):
            return prefix
    return "config" if path == CONFIG else "meta"


def describe(path: str) -> str:
    for pattern, text in DESCRIPTIONS:
        if fnmatch.fnmatchcase(path, pattern):
            return text
    return "(no description)"


@dataclass(frozen=True)
class Member:
    """One file of the bundle: from disk (``source``) or from memory (``data``)."""

    path: str
    source: Path | None = None
    data: bytes | None = None

    def sha256(self) -> str:
        if self.data is not None:
            return hashlib.sha256(self.data).hexdigest()
        return sha256_file(self.source)

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.source.stat().st_size


def bundle_name(name: str, date: str) -> str:
    return f"regwas-{name}-{date}"


def resolve_date(value: str | None = None) -> str:
    """The bundle's date: ``value`` (YYYY-MM-DD), else SOURCE_DATE_EPOCH, else today (UTC)."""
    if value:
        dt.date.fromisoformat(str(value))
        return str(value)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return now.date().isoformat()


def _yaml(obj: object) -> bytes:
    return yaml.safe_dump(obj, sort_keys=True, allow_unicode=True).encode()


def _json(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()


def citation(config: Mapping, date: str, version: str) -> bytes:
    """CITATION.cff (CFF 1.2.0) for the results of this run."""
    cfg = config.get("bundle", {})
    cff = {
        "cff-version": "1.2.0",
        "message": "If you use these results, please cite them as below.",
        "type": "dataset",
        "title": cfg.get("title") or f"regwas latent-space GWAS results: {config.get('name')}",
        "authors": [{"name": a} for a in cfg.get("authors") or ["regwas contributors"]],
        "date-released": date,
        "version": f"{config.get('name')}-{date}",
        "keywords": ["GWAS", "latent space", "registration", "representation learning"],
        "references": [
            {
                "type": "software",
                "title": "regwas",
                "version": version,
                "authors": [{"name": "regwas contributors"}],
            }
        ],
    }
    return _yaml(cff)


def readme(config: Mapping, date: str, paths: list[str], individual: bool) -> bytes:
    """README.md: a line on the run, then one line per file with what it is."""
    lines = [INDIVIDUAL_WARNING, ""] if individual else []
    lines += [
        f"# regwas results bundle: {config.get('name')} ({date})",
        "",
        "Aggregate results of a regwas run (latent-space GWAS of registered medical images and "
        "signals). "
        + (
            ""
            if individual
            else "No individual-level data: no genotypes, images, "
            "signals, per-person embeddings, sample ids or per-person QC."
        ),
        f"Config: name {config.get('name')}, seed {config.get('seed')}, modalities "
        f"{', '.join(map(str, config.get('modalities', [])))}.",
        "Check it with `regwas bundle verify FILE --samples samples.tsv`; compare two bundles "
        "with `regwas bundle diff A B`.",
        "",
        "| file | what it is |",
        "|---|---|",
    ]
    lines += [f"| `{p}` | {describe(p)} |" for p in sorted(paths)]
    return ("\n".join(lines) + "\n").encode()


def assemble(
    files: Mapping[str, str | os.PathLike],
    config: Mapping,
    provenance: Mapping[str, object],
    date: str,
    individual: Mapping[str, str | os.PathLike] | None = None,
) -> list[Member]:
    """The bundle's members: ``files`` (path in bundle -> file on disk), ``individual`` files
    (only when the config opts in; placed under individual/), provenance documents
    (name -> JSON-able object or bytes, placed under provenance/), the resolved config, README,
    CITATION.cff and the manifest."""
    from regwas import __version__

    members = [Member(str(p), source=Path(s)) for p, s in files.items()]
    for name, obj in provenance.items():
        data = obj if isinstance(obj, bytes) else _json(obj)
        members.append(Member(f"provenance/{name}", data=data))
    individual = dict(individual or {})
    if individual and not config.get("bundle", {}).get("include_individual_level", False):
        raise InputError(
            "individual-level files given but bundle.include_individual_level is false"
        )
    members += [Member(f"individual/{p}", source=Path(s)) for p, s in individual.items()]
    members.append(Member(CONFIG, data=_yaml(dict(config))))
    members.append(Member(CITATION, data=citation(config, date, __version__)))
    paths = [m.path for m in members] + [README, MANIFEST]
    if len(set(paths)) != len(paths):
        raise InputError("two bundle files have the same path")
    for m in members:
        if m.source is not None and not m.source.is_file():
            raise InputError(f"{m.source}: file to bundle does not exist")
    members.append(Member(README, data=readme(config, date, paths, bool(individual))))
    manifest = "".join(f"{m.sha256()}  {m.path}\n" for m in sorted(members, key=lambda m: m.path))
    members.append(Member(MANIFEST, data=manifest.encode()))
    return sorted(members, key=lambda m: m.path)


def write_bundle(members: list[Member], out: str | os.PathLike, top: str, date: str) -> Path:
    """Write ``members`` under ``top/`` as a deterministic .tar.gz (atomically)."""
    out = Path(out)
    mtime = int(dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC).timestamp())
    with atomic_path(out) as tmp, open(tmp, "wb") as raw:
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
        ):
            for m in sorted(members, key=lambda m: m.path):
                info = tarfile.TarInfo(f"{top}/{m.path}")
                info.size, info.mtime, info.mode = m.size(), mtime, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if m.data is not None:
                    tar.addfile(info, io.BytesIO(m.data))
                else:
                    with open(m.source, "rb") as fh:
                        tar.addfile(info, fh)
    return out


def build_bundle(
    out: str | os.PathLike,
    files: Mapping[str, str | os.PathLike],
    config: Mapping,
    provenance: Mapping[str, object],
    date: str | None = None,
    individual: Mapping[str, str | os.PathLike] | None = None,
) -> Path:
    """Assemble and write the bundle; returns its path."""
    date = resolve_date(date)
    members = assemble(files, config, provenance, date, individual)
    return write_bundle(members, out, bundle_name(str(config.get("name", "run")), date), date)

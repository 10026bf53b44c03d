"""`regwas bundle diff A B`: do two bundles hold the same results, and which files differ.

Files are compared by the sha256 in each bundle's manifest (each bundle is checked against
its manifest first). Result files (results/: summary statistics, GWAS-SSF, leads, PheWAS,
probes, comparison, headline, plots) decide the answer; the config, provenance (software,
git, input checksums, resource usage), report and README are listed as context: two runs of
the same config and seed differ there (time, memory, date) but not in their results.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

from regwas.errors import InputError
from regwas.publish.bundle import MANIFEST, part_of
from regwas.publish.verify import check_manifest, extract


@dataclass
class BundleDiff:
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    differ: list[str] = field(default_factory=list)
    same: list[str] = field(default_factory=list)

    def results_identical(self) -> bool:
        return not any(part_of(p) == "results" for p in self.only_a + self.only_b + self.differ)

    def lines(self, a: str = "A", b: str = "B") -> list[str]:
        out = []
        verdict = "identical" if self.results_identical() else "DIFFERENT"
        n_results = sum(part_of(p) == "results" for p in self.same)
        out.append(f"results: {verdict} ({n_results} result files identical)")
        for label, paths in (
            (f"only in {a}", self.only_a),
            (f"only in {b}", self.only_b),
            ("differ", self.differ),
        ):
            for p in paths:
                out.append(f"  {label}: {p} [{part_of(p)}]")
        return out


def read_manifest(bundle: str | os.PathLike) -> dict[str, str]:
    """path -> sha256 of a bundle, after checking that its files match the manifest."""
    with tempfile.TemporaryDirectory(prefix=".regwas-diff.") as tmp:
        root, problems = extract(bundle, tmp)
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        problems += check_manifest(root, names)
        if problems:
            raise InputError(f"{bundle}: " + "; ".join(map(str, problems[:5])))
        listed = {}
        for line in (root / MANIFEST).read_text().splitlines():
            digest, _, name = line.partition("  ")
            listed[name] = digest
        return listed


def diff_bundles(a: str | os.PathLike, b: str | os.PathLike) -> BundleDiff:
    ma, mb = read_manifest(a), read_manifest(b)
    out = BundleDiff()
    out.only_a = sorted(set(ma) - set(mb))
    out.only_b = sorted(set(mb) - set(ma))
    for p in sorted(set(ma) & set(mb)):
        (out.same if ma[p] == mb[p] else out.differ).append(p)
    return out

"""Rule gwas_merge: merge chromosome shards, compute lambda GC."""

import json

from regwas.associate.gwas.merge import merge_shards
from regwas.io.atomic import atomic_path
from regwas.smk import run_script


def main(smk):
    summary = merge_shards(list(smk.input), smk.output.gwas, smk.params.cfg)
    with atomic_path(smk.output.summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float))


run_script(snakemake, main)

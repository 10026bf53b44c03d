#!/usr/bin/env bash
# Run snakemake with the SLURM executor on a throw-away single-node SLURM, then stop it.
#
# Usage: .ci/slurm/run.sh [SNAKEMAKE ARGS...]
#   e.g. .ci/slurm/run.sh --configfile config/test.yaml --directory /tmp/regwas-ci
#
# Starts the cluster (.ci/slurm/setup.sh) unless REGWAS_SLURM_KEEP=1 finds one running,
# derives the CI profile from workflow/profiles/slurm (.ci/slurm/ci_profile.py), runs
# `snakemake --profile <ci profile> --workflow-profile workflow/profiles/default ARGS`
# from the repository root under `timeout` (REGWAS_SLURM_TIMEOUT seconds, default 420), and
# always stops every daemon it started (trap on exit). Exit status: snakemake's (124 when
# the timeout hit).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STATE=${REGWAS_SLURM_DIR:-/tmp/regwas-slurm}
TIMEOUT=${REGWAS_SLURM_TIMEOUT:-420}
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3

started=0
cleanup() {
    if [ "$started" = 1 ]; then "$HERE/teardown.sh" "$STATE"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${REGWAS_SLURM_KEEP:-0}" = 1 ] && [ -f "$STATE/env.sh" ] \
    && SLURM_CONF="$STATE/slurm.conf" sinfo -h >/dev/null 2>&1; then
    echo "[slurm-run] reusing the cluster in $STATE" >&2
else
    started=1
    "$HERE/setup.sh" "$STATE" || exit $?
fi
# shellcheck disable=SC1091
. "$STATE/env.sh"

"$PY" "$HERE/ci_profile.py" "$ROOT/workflow/profiles/slurm" "$STATE/profile" || exit $?

cd "$ROOT" || exit 1
timeout --kill-after=20 "$TIMEOUT" "$PY" -m snakemake \
    --profile "$STATE/profile" \
    --workflow-profile workflow/profiles/default \
    "$@"
rc=$?
if [ $rc = 124 ]; then
    echo "[slurm-run] snakemake timed out after ${TIMEOUT}s; queue:" >&2
    squeue --states=all >&2 || true
fi
exit $rc

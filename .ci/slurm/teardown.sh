#!/usr/bin/env bash
# Stop the single-node SLURM started by .ci/slurm/setup.sh: cancel its jobs, then stop every
# daemon listed in STATE_DIR/pids by PID (TERM, then KILL after 10 s), and remove the
# /etc/slurm files setup.sh wrote. Safe to run twice.
#
# Usage: .ci/slurm/teardown.sh [STATE_DIR]   (default: $REGWAS_SLURM_DIR or /tmp/regwas-slurm)
set -uo pipefail

STATE=${1:-${REGWAS_SLURM_DIR:-/tmp/regwas-slurm}}
PIDS="$STATE/pids"
[ -f "$PIDS" ] || exit 0

alive() { kill -0 "$1" 2>/dev/null; }

# Cancel this cluster's jobs first, so slurmd can clean up their job steps.
if [ -f "$STATE/slurm.conf" ] && command -v scancel >/dev/null; then
    export SLURM_CONF="$STATE/slurm.conf"
    jobs=$(timeout 10 squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null || true
        for _ in $(seq 20); do
            left=$(timeout 5 squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %i 2>/dev/null || true)
            [ -z "$left" ] && break
            sleep 0.5
        done
    fi
fi

# Reverse order of start: slurmd, slurmctld, munged.
tac "$PIDS" | while read -r name pid; do
    [ -n "${pid:-}" ] || continue
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 20); do alive "$pid" || break; sleep 0.5; done
        if alive "$pid"; then
            echo "[slurm-teardown] $name ($pid) ignored TERM, sending KILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
done
: >"$PIDS"
ETC=${REGWAS_SLURM_ETC:-/etc/slurm}
for f in slurm.conf gres.conf; do
    if [ -f "$ETC/$f" ] && head -n1 "$ETC/$f" | grep -qF "# Written by .ci/slurm/setup.sh"; then
        rm -f "$ETC/$f"
    fi
done
echo "[slurm-teardown] stopped the daemons listed in $PIDS" >&2

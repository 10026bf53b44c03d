#!/usr/bin/env bash
# Start a real single-node SLURM (munged, slurmctld, slurmd) for CI, without systemd.
#
# Usage: .ci/slurm/setup.sh [STATE_DIR]   (default: $REGWAS_SLURM_DIR or /tmp/regwas-slurm)
#
# Everything lives under STATE_DIR: the munge key and socket, slurm.conf, gres.conf, spool
# and state directories, logs, and `pids` (one "name pid" line per daemon this script
# started). Nothing under /etc is touched: clients find the cluster through SLURM_CONF,
# which STATE_DIR/env.sh exports, and through /etc/slurm/slurm.conf (+ gres.conf), which
# this script writes too (marked as ours; an existing foreign slurm.conf stops the script):
# the executor's job step (snakemake-executor-plugin-slurm-jobstep) drops SLURM_CONF from
# the environment of its inner `srun`, which then only finds the compiled-in path.
# Stop everything with .ci/slurm/teardown.sh STATE_DIR (it removes our /etc/slurm files).
#
# The node has one fake GPU (Gres=gpu:fake:1, gres.conf File=/dev/null), so jobs that ask
# for --gpus=1 are scheduled and their GRES is recorded, without a GPU on the machine.
# Packages (slurm-wlm, munge) are installed with apt-get when missing (root only).
set -euo pipefail

STATE=${1:-${REGWAS_SLURM_DIR:-/tmp/regwas-slurm}}
CTLD_PORT=${REGWAS_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${REGWAS_SLURMD_PORT:-6818}
WAIT_S=${REGWAS_SLURM_WAIT_S:-90}

log() { echo "[slurm-setup] $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    log "must run as root (slurmd starts jobs as any user)"
    exit 3
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    if ! command -v apt-get >/dev/null; then
        log "slurm-wlm/munge are not installed and apt-get is not available"
        exit 4
    fi
    log "installing slurm-wlm and munge with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurm-wlm slurm-client munge >/dev/null
fi

if [ -s "$STATE/pids" ]; then
    while read -r _name pid; do
        if kill -0 "$pid" 2>/dev/null; then
            log "a cluster from $STATE is still running (pid $pid): run teardown.sh first"
            exit 5
        fi
    done <"$STATE/pids"
fi

ETC=${REGWAS_SLURM_ETC:-/etc/slurm}
MARK="# Written by .ci/slurm/setup.sh"
for f in slurm.conf gres.conf; do
    if [ -e "$ETC/$f" ] && ! head -n1 "$ETC/$f" | grep -qF "$MARK"; then
        log "$ETC/$f exists and was not written by this script: not overwriting it"
        exit 8
    fi
done

rm -rf "$STATE"
mkdir -p "$STATE"/{munge,ctld,spool,log}
chmod 700 "$STATE" "$STATE/munge"
: >"$STATE/pids"

# --- munge: own key, own socket; no system paths -----------------------------------------
KEY="$STATE/munge/munge.key"
if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$KEY" >/dev/null
else
    dd if=/dev/urandom of="$KEY" bs=1 count=1024 status=none
fi
chmod 400 "$KEY"
SOCKET="$STATE/munge/munge.socket.2"
munged --foreground --force --key-file="$KEY" --socket="$SOCKET" \
    --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/log/munged.log" \
    --seed-file="$STATE/munge/munged.seed" >>"$STATE/log/munged.out" 2>&1 &
echo "munged $!" >>"$STATE/pids"
for _ in $(seq 50); do [ -S "$SOCKET" ] && break; sleep 0.1; done
if ! munge --socket="$SOCKET" -n </dev/null | unmunge --socket="$SOCKET" >/dev/null; then
    log "munged did not start; see $STATE/log/munged.log"
    exit 6
fi

# --- slurm.conf / gres.conf ---------------------------------------------------------------
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2 * 0.85 / 1024}' /proc/meminfo)
cat >"$STATE/slurm.conf" <<EOF
$MARK: a single-node test cluster, no cgroups, no accounting.
ClusterName=regwasci
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
InactiveLimit=0
KillWait=5
DefMemPerCPU=1024
SlurmctldTimeout=30
SlurmdTimeout=30
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:fake:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$STATE/gres.conf" <<EOF
$MARK: one fake GPU.
NodeName=localhost Name=gpu Type=fake File=/dev/null
EOF
cat >"$STATE/env.sh" <<EOF
export SLURM_CONF=$STATE/slurm.conf
EOF
mkdir -p "$ETC"
cp "$STATE/slurm.conf" "$STATE/gres.conf" "$ETC/"
export SLURM_CONF="$STATE/slurm.conf"

# --- daemons, in the foreground of background jobs so that $! is the daemon ------------
slurmctld -D -i -f "$SLURM_CONF" >>"$STATE/log/slurmctld.out" 2>&1 &
echo "slurmctld $!" >>"$STATE/pids"
slurmd -D -N localhost -f "$SLURM_CONF" >>"$STATE/log/slurmd.out" 2>&1 &
echo "slurmd $!" >>"$STATE/pids"

log "waiting for the node to become idle (up to ${WAIT_S}s)"
state=""
for _ in $(seq $((WAIT_S * 2))); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -n1 || true)
    case "$state" in
        idle) break ;;
        drain* | down*)
            scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
done
if [ "$state" != idle ]; then
    log "node state is '${state:-unknown}' after ${WAIT_S}s; logs in $STATE/log"
    tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
    exit 7
fi
log "cluster up: $(sinfo -h -N -o '%N %t cpus=%c mem=%m gres=%G') (SLURM_CONF=$SLURM_CONF)"

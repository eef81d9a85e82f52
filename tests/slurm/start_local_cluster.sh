#!/usr/bin/env bash
# A real single-node Slurm on this host, for dlhw's Slurm tests (tests/slurm/).
#
# Installs nothing: it needs Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge) and root.
# It writes a munge key (when there is none) and a single-node slurm.conf for this host (its CPUs and
# memory as `slurmd -C` reports them; SlurmUser root; proctrack/linuxproc; select/cons_tres; no
# accounting database), starts munged, slurmctld and slurmd, and waits until `sinfo` shows the node idle.
# Idempotent: with the cluster already up it returns at once.
#
# Partitions: `debug` (the default) and `urgent`, a higher priority tier that preempts `debug` jobs by
# requeueing them (PreemptType=preempt/partition_prio, PreemptMode=REQUEUE).
#
# Exit 0: the node is idle (or busy with jobs: the cluster is up). Exit 1: why not, on one line.
set -uo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
STATE=/var/lib/dlhw-slurm
LOGS=/var/log/dlhw-slurm
MARK="# written by dlhw tests/slurm/start_local_cluster.sh"
WAIT_S=${DLHW_SLURM_WAIT_S:-60}

fail() { echo "start_local_cluster: $*" >&2; exit 1; }

node_state() { timeout 5 sinfo -h -N -o '%T' 2>/dev/null | head -n1; }

up() {
    local s
    s=$(node_state)
    case "$s" in idle*|mixed*|allocated*|completing*) return 0 ;; esac
    return 1
}

for tool in munged slurmctld slurmd sinfo scontrol; do
    command -v "$tool" >/dev/null || fail "$tool not found; install Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge)"
done
[ "$(id -u)" = 0 ] || fail "needs root (it starts munged, slurmctld and slurmd as root); running as $(id -un)"

if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    fail "$CONF exists and was not written by this script: this host has its own Slurm; not touching it"
fi

if [ -f "$CONF" ] && up; then
    exit 0  # already up
fi

# ---------------------------------------------------------------- munge
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none || fail "cannot write /etc/munge/munge.key"
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key && chmod 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    if command -v runuser >/dev/null; then
        runuser -u munge -- munged || fail "munged did not start (see /var/log/munge/munged.log)"
    else
        munged --force || fail "munged did not start (see /var/log/munge/munged.log)"
    fi
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || fail "munged runs but does not answer (see /var/log/munge/munged.log)"
fi

# ---------------------------------------------------------------- slurm.conf
HOST=$(hostname -s)
NODE_LINE=$(slurmd -C 2>/dev/null | head -n1)
case "$NODE_LINE" in NodeName=*) ;; *) fail "slurmd -C did not describe this host (got: ${NODE_LINE:-nothing})" ;; esac
CPUS=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$NODE_LINE")
MEM=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$NODE_LINE")
MEM=$(( MEM * 95 / 100 ))  # a margin: slurmd drains a node that reports less than RealMemory
mkdir -p "$CONF_DIR" "$STATE/ctld" "$STATE/d" "$LOGS"
cat >"$CONF" <<EOF
$MARK
ClusterName=dlhw-local
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job may start again after cred_expire seconds (120 by default): short for tests
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
JobRequeue=1
MaxArraySize=10001
MinJobAge=600
KillWait=10
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE
PartitionName=urgent Nodes=$HOST Default=NO MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
EOF

# ---------------------------------------------------------------- daemons
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running "$STATE/slurmctld.pid" || slurmctld -c 2>>"$LOGS/start.err" || fail "slurmctld did not start (see $LOGS/slurmctld.log)"
for _ in $(seq 100); do timeout 5 scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
running "$STATE/slurmd.pid" || slurmd 2>>"$LOGS/start.err" || fail "slurmd did not start (see $LOGS/slurmd.log)"

for _ in $(seq $((WAIT_S * 5))); do
    up && exit 0
    s=$(node_state)
    case "$s" in down*|drain*) scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 ;; esac
    sleep 0.2
done
fail "the node is not idle after ${WAIT_S}s (sinfo: $(node_state || echo no answer); see $LOGS/)"

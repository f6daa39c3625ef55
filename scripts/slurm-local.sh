#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing `lucerna sweep --backend slurm` against a real Slurm.
#
#   source <(bash scripts/slurm-local.sh start)   # installs slurm and munge if missing, starts the daemons,
#                                                  # prints `export SLURM_CONF=...` for the client commands
#   bash scripts/slurm-local.sh status             # sinfo of the running cluster
#   bash scripts/slurm-local.sh stop               # stops slurmd, slurmctld and munged
#
# Everything lives in SLURM_LOCAL_DIR (default /tmp/lucerna-slurm): slurm.conf, state, spool, logs, pid files.
# Loopback only (the node's address is 127.0.0.1); ProctrackType=proctrack/linuxproc and TaskPlugin=task/none
# (no cgroups), no accounting. Needs root, as CI and the developers' machines have.
set -euo pipefail
directory="${SLURM_LOCAL_DIR:-/tmp/lucerna-slurm}"
command="${1:-start}"

log() { echo "slurm-local: $*" >&2; }

install_packages() {
  local missing=()
  for package in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

stop_daemons() {
  for name in slurmd slurmctld munged; do
    if [ -f "$directory/$name.pid" ]; then
      kill "$(cat "$directory/$name.pid")" 2>/dev/null || true
      rm -f "$directory/$name.pid"
    fi
  done
  # A daemon that lost its pid file is still ours if it reads our configuration or socket.
  pkill -f -- "-f $directory/slurm.conf" 2>/dev/null || true
  pkill -f -- "--socket=$directory/munge.socket" 2>/dev/null || true
}

case "$command" in
  start)
    [ "$(id -u)" -eq 0 ] || { log "needs root (the daemons run as root)"; exit 1; }
    # Close every inherited descriptor above 2 (a caller's pipes can arrive as more than standard output and
    # error): a daemon holding one open would keep the caller waiting for its end.
    for descriptor in /proc/$$/fd/*; do
      number=${descriptor##*/}
      if [ "$number" -gt 2 ] 2>/dev/null; then eval "exec $number>&-" 2>/dev/null || true; fi
    done
    install_packages
    stop_daemons
    mkdir -p "$directory/state" "$directory/spool" "$directory/munge"
    host=$(hostname -s)
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    # munge: a key of our own, a socket of our own.
    if [ ! -f "$directory/munge/munge.key" ]; then
      dd if=/dev/urandom of="$directory/munge/munge.key" bs=1024 count=1 status=none
      chmod 400 "$directory/munge/munge.key"
    fi
    munged --force --key-file="$directory/munge/munge.key" --socket="$directory/munge.socket" \
      --pid-file="$directory/munged.pid" --log-file="$directory/munged.log" --seed-file="$directory/munge/seed" \
      < /dev/null > /dev/null 2>&1
    cat > "$directory/slurm.conf" <<EOF
ClusterName=lucerna
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${SLURM_LOCAL_PORT:-6917}
SlurmdPort=$(( ${SLURM_LOCAL_PORT:-6917} + 1 ))
AuthType=auth/munge
AuthInfo=socket=$directory/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
StateSaveLocation=$directory/state
SlurmdSpoolDir=$directory/spool
SlurmctldPidFile=$directory/slurmctld.pid
SlurmdPidFile=$directory/slurmd.pid
SlurmctldLogFile=$directory/slurmctld.log
SlurmdLogFile=$directory/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=3600
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$directory/slurm.conf"
    # The daemons get no terminal streams: a caller reading this script's output would wait for them otherwise.
    slurmctld -f "$SLURM_CONF" < /dev/null > /dev/null 2>&1
    slurmd -f "$SLURM_CONF" < /dev/null > /dev/null 2>&1
    for _ in $(seq 1 60); do
      if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        log "up: $(sinfo -h -o '%N %T %c CPUs' 2>/dev/null)"
        echo "export SLURM_CONF=$SLURM_CONF"
        exit 0
      fi
      sleep 1
    done
    log "the node did not come up within 60 s; logs in $directory"
    tail -5 "$directory/slurmctld.log" "$directory/slurmd.log" >&2 || true
    exit 1
    ;;
  status)
    SLURM_CONF="$directory/slurm.conf" sinfo
    ;;
  stop)
    stop_daemons
    log "stopped"
    ;;
  *)
    sed -n '2,10p' "$0"
    exit 2
    ;;
esac

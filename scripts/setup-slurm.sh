#!/usr/bin/env bash
# A real single-node Slurm cluster on loopback, for the test suite in test/slurm (and by hand).
#   bash scripts/setup-slurm.sh install      apt-get install slurmctld slurmd slurm-client munge (if missing)
#   bash scripts/setup-slurm.sh start DIR    write configs under DIR, start munged, slurmctld, slurmd;
#                                            prints KEY=VALUE lines (SLURM_CONF=..., pids) on stdout
#   bash scripts/setup-slurm.sh stop DIR     stop the daemons started in DIR (by their PIDs)
# Nothing outside DIR is touched besides the packages: own munge key and socket, state and spool
# folders under DIR, free ports on 127.0.0.1, proctrack/linuxproc and task/none (no cgroups).
# Needs root (munged and slurmd run as root; jobs run as the submitting user).
set -euo pipefail

log() { echo "[setup-slurm] $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install() {
  local missing=()
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=900 update -q >&2
  # The packages try to start their system services; the cluster here is started by `start`.
  as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}" >&2
}

free_port() {
  # bash's /dev/tcp tells whether something listens; pick from a high range until a port is free.
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "no free port found" >&2
  return 1
}

wait_for() { # seconds, description, command...
  local secs=$1 what=$2
  shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "timed out after ${secs}s waiting for $what"
  return 1
}

start() {
  local dir
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  for b in munged slurmctld slurmd sbatch; do
    command -v "$b" >/dev/null || { log "$b not found: run '$0 install' first"; exit 1; }
  done
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  chmod 700 "$dir/munge"
  # Our own key: this cluster shares nothing with a system munge.
  [ -f "$dir/munge/munge.key" ] || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log"
  wait_for 10 "munged" test -S "$dir/munge/munge.sock"

  local ctld_port slurmd_port cpus mem
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  cpus=$(nproc)
  # Some memory left for the OS: slurmd drains a node whose RealMemory is above what it finds.
  mem=$(awk '/MemTotal/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)
  cat >"$dir/slurm.conf" <<EOF
# Single-node test cluster written by scripts/setup-slurm.sh
ClusterName=sdgtest
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=600
KillWait=5
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -c -f "$SLURM_CONF"
  wait_for 20 "slurmctld" scontrol ping
  slurmd -N localhost -f "$SLURM_CONF"
  wait_for 30 "the node to be idle" sh -c 'sinfo -h -n localhost -o %T | grep -qx idle'
  echo "SLURM_CONF=$SLURM_CONF"
  echo "SLURM_DIR=$dir"
  echo "MUNGED_PID=$(cat "$dir/munge/munged.pid")"
  echo "SLURMCTLD_PID=$(cat "$dir/slurmctld.pid")"
  echo "SLURMD_PID=$(cat "$dir/slurmd.pid")"
}

stop_pid() { # pidfile name
  local f=$1 what=$2 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  log "$what (pid $pid) did not stop in 10 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  local dir=$1
  stop_pid "$dir/slurmd.pid" slurmd
  stop_pid "$dir/slurmctld.pid" slurmctld
  stop_pid "$dir/munge/munged.pid" munged
}

case "${1:-}" in
  install) install ;;
  start) [ -n "${2:-}" ] || { echo "usage: $0 start DIR" >&2; exit 2; }; start "$2" ;;
  stop) [ -n "${2:-}" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
  *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Stop the single-node Slurm started by start_slurm.sh, by pidfile only (no pkill/killall).
# Order: cancel all jobs (so no orphaned slurmstepd/job processes) -> slurmd -> slurmctld -> munged.
# Usage: scripts/slurm/stop_slurm.sh   [SLURM_BASE=/tmp/nora-slurm]  [SLURM_KEEP_JOBS=1 to skip scancel]
set -uo pipefail
BASE=${SLURM_BASE:-/tmp/nora-slurm}
RUN=$BASE/run
export SLURM_CONF=$BASE/etc/slurm.conf

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
# a daemonized process that exited stays a zombie until PID 1 reaps it; count zombies as gone
running() { kill -0 "$1" 2>/dev/null && [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) != Z ]]; }

stop_pidfile() {  # stop_pidfile <name> <pidfile>
  local name=$1 pf=$2 pid i
  if ! alive "$pf"; then echo "$name: not running"; rm -f "$pf"; return 0; fi
  pid=$(cat "$pf"); local t0; t0=$(date +%s.%N)
  kill -TERM "$pid"
  for i in $(seq 1 50); do running "$pid" || break; sleep 0.2; done
  if running "$pid"; then echo "$name: still alive after 10s, SIGKILL $pid"; kill -KILL "$pid"; fi
  rm -f "$pf"
  printf '%s: stopped (pid %s) in %ss\n' "$name" "$pid" "$(awk -v now="$(date +%s.%N)" -v t0="$t0" 'BEGIN { printf "%.2f", now - t0 }')"
}

# 1. cancel jobs while slurmctld/slurmd are still up, so slurmstepd cleans up the job processes
if [[ ${SLURM_KEEP_JOBS:-0} != 1 ]] && alive "$RUN/slurmctld.pid"; then
  jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [[ -n ${jobs// /} ]]; then
    echo "cancelling jobs: $jobs"
    scancel $jobs
    for i in $(seq 1 75); do [[ -z $(squeue -h -t R,CG,PD -o %i 2>/dev/null) ]] && break; sleep 0.2; done
  fi
fi

stop_pidfile slurmd    "$RUN/slurmd.pid"
stop_pidfile slurmctld "$RUN/slurmctld.pid"
stop_pidfile munged    "$RUN/munged.pid"
rm -f "$RUN/munge.socket.2" "$RUN/munge.socket.2.lock"

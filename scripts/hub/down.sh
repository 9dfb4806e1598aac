#!/usr/bin/env bash
# Stop what scripts/hub/up.sh started, by PID: the hub (which cancels the labs' Slurm jobs
# and stops its proxy), PostgreSQL, Slurm. Never pkill/killall.
#
#   scripts/hub/down.sh            # stop; keep the archive, the hub's state and the users
#   scripts/hub/down.sh --purge    # also remove $NORA_HUB_BASE and the demo users up.sh
#                                  # created (only those: they carry up.sh's mark)
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${NORA_HUB_BASE:-/tmp/nora-hub}
MARK="nora_lab hub demo user"
PURGE=0; [[ ${1:-} == --purge ]] && PURGE=1
[[ -d $BASE ]] || { echo "nothing at $BASE"; exit 0; }
[[ -f $BASE/hub.env ]] && { set -a; source "$BASE/hub.env"; set +a; }

running() { kill -0 "$1" 2>/dev/null && [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) != Z ]]; }
stop_pid() {  # stop_pid NAME PID SECONDS
  local name=$1 pid=$2 i
  running "$pid" || { echo "$name: not running"; return 0; }
  kill -TERM "$pid"
  for i in $(seq 1 $(( $3 * 5 ))); do running "$pid" || break; sleep 0.2; done
  running "$pid" && { echo "$name: still alive, SIGKILL"; kill -KILL "$pid"; }
  echo "$name: stopped (pid $pid)"
}

# the hub: on SIGTERM it scancels the labs (cleanup_servers) and stops the proxy it started
[[ -s $BASE/state/hub.pid ]] && stop_pid hub "$(cat "$BASE/state/hub.pid")" 30
rm -f "$BASE/state/hub.pid"
[[ -s $BASE/state/jupyterhub-proxy.pid ]] && stop_pid proxy "$(cat "$BASE/state/jupyterhub-proxy.pid")" 10
rm -f "$BASE/state/jupyterhub-proxy.pid"

# PostgreSQL
PGD=$BASE/pg/data
if [[ -s $PGD/postmaster.pid ]]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [[ -n $PGBIN ]] || PGBIN=$(dirname "$(command -v pg_ctl)")
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD" -m fast -w -t 30 stop >/dev/null 2>&1 \
    && echo "postgresql: stopped" || stop_pid postgresql "$(head -n1 "$PGD/postmaster.pid")" 10
fi

# Slurm (cancels what is left, then the daemons)
[[ -d $BASE/slurm ]] && SLURM_BASE=$BASE/slurm bash "$REPO/scripts/slurm/stop_slurm.sh"

if (( PURGE )); then
  for home in "$BASE"/home/*; do
    u=$(basename "$home")
    [[ $home == "$BASE/home/*" ]] && break
    if [[ $(getent passwd "$u" | cut -d: -f5) == "$MARK" ]]; then
      userdel "$u" && echo "removed user $u"
    fi
  done
  rm -rf "$BASE"
  echo "removed $BASE"
fi

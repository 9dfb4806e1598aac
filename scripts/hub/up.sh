#!/usr/bin/env bash
# A whole nora_lab lab on one machine, for a demo or a test: Slurm, PostgreSQL (the shared
# archive), configurable-http-proxy and JupyterHub with batchspawner. Run as root.
#
#   scripts/hub/up.sh          # then open the printed URL; scripts/hub/down.sh stops it all
#
# Everything lives under $NORA_HUB_BASE (default /tmp/nora-hub): slurm/, pg/, archive/
# (the storage root), state/ (the hub's database, cookie secret, API token), venv/ (the
# labs' Python), home/ (demo users' homes). Facts for scripts go to $NORA_HUB_BASE/hub.env.
# Idempotent: a second run leaves running services alone.
#
# Env (besides the NORA_HUB_* settings of jupyterhub_config.py, passed through):
#   NORA_HUB_BASE          where everything goes (default /tmp/nora-hub)
#   NORA_HUB_DEMO_USERS    Linux users to create if missing (default "alice bob"); their
#                          passwords go to $NORA_HUB_BASE/state/passwords (mode 600)
#   NORA_HUB_ARCHIVE_ADMIN the archive's first user, so its administrator (default nora-admin)
#   NORA_HUB_BIND_URL      where users connect (default http://127.0.0.1:8000)
#   NORA_HUB_SLURM_CPUS    CPUs the Slurm node declares (default 8; oversubscribes small boxes)
# A site does not use this script: see docs/deploy.md.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HUBDIR=$REPO/scripts/hub
BASE=${NORA_HUB_BASE:-/tmp/nora-hub}
VENV_SRC=${NORA_HUB_VENV_SRC:-$REPO/.venv}
USERS=${NORA_HUB_DEMO_USERS-alice bob}
ADMIN=${NORA_HUB_ARCHIVE_ADMIN:-nora-admin}
MARK="nora_lab hub demo user"
t0=$(date +%s.%N)
say() { printf '[up %6.1fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{print a-b}')" "$*"; }
die() { echo "up.sh: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
alive() { [[ -s $1 ]] && kill -0 "$(head -n1 "$1")" 2>/dev/null; }
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

[[ $(id -u) == 0 ]] || die "run as root: it starts Slurm and PostgreSQL and labs as other users"
mkdir -p "$BASE"/{state,home,archive}
chmod 755 "$BASE" "$BASE/home"
chmod 700 "$BASE/state"
touch "$BASE/hub.env"
# facts of an earlier run (ports, pids) are kept: the services it started are reused
set -a; source "$BASE/hub.env"; set +a
# single-quoted: a value may hold '&' or '?' (a socket URL); no value holds a quote
fact() { sed -i "/^$1=/d" "$BASE/hub.env"; echo "$1='$2'" >> "$BASE/hub.env"; export "$1=$2"; }

# 1. packages ----------------------------------------------------------------------------
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
  || { say "installing postgresql"; apt_install postgresql; }
command -v node >/dev/null || { say "installing nodejs npm"; apt_install nodejs npm; }
[[ -x $VENV_SRC/bin/python ]] || die "no Python environment at $VENV_SRC: run 'make env' first"
"$VENV_SRC/bin/python" -c 'import jupyterhub, batchspawner' 2>/dev/null \
  || { say "pip install jupyterhub batchspawner"; "$VENV_SRC/bin/pip" install -q jupyterhub batchspawner; }
CHP=$HUBDIR/node_modules/.bin/configurable-http-proxy
[[ -x $CHP ]] || { say "npm ci configurable-http-proxy"; (cd "$HUBDIR" && npm ci --no-audit --no-fund --loglevel=error); }

# 2. Slurm ---------------------------------------------------------------------------------
export SLURM_BASE=$BASE/slurm
if [[ -z ${SLURM_CTLD_PORT:-} ]]; then fact SLURM_CTLD_PORT "$(free_port)"; fact SLURMD_PORT "$(free_port)"; fi
SLURM_NODE_CPUS=${NORA_HUB_SLURM_CPUS:-8} SLURM_INSTALL=1 \
  bash "$REPO/scripts/slurm/start_slurm.sh" > "$BASE/slurm-start.log" 2>&1 \
  || { cat "$BASE/slurm-start.log" >&2; die "Slurm did not start (log above)"; }
fact SLURM_CONF "$SLURM_BASE/etc/slurm.conf"
say "Slurm up ($(sinfo -h -o %P | tr '\n' ' '))"

# 3. PostgreSQL: the shared archive's database ---------------------------------------------
# As a lab's server (docs/deploy.md, "Threat model"): no `trust` anywhere. Over the local
# socket, peer authentication: each OS account is the role of its own name, and root (the
# trusted nora administrator) may also log in as the administrator role nora_admin, which
# owns the database and its schema and may create roles but is no superuser. Over TCP, a
# password (SCRAM): a user on another node needs one in their own ~/.pgpass
# (`nora --adduser NAME --pgpass HOST:PORT`, run by root). The postgres superuser logs in
# only as the postgres OS account over the socket; no lab process connects as it.
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -n $PGBIN ]] || PGBIN=$(dirname "$(command -v initdb)")
PGD=$BASE/pg
PGADMIN=nora_admin
mkdir -p "$PGD/sock"; chown postgres "$PGD" "$PGD/sock"; chmod 755 "$PGD" "$PGD/sock"
if [[ -z ${NORA_HUB_PG_PORT:-} ]]; then fact NORA_HUB_PG_PORT "$(free_port)"; fi
if [[ ! -s $PGD/data/PG_VERSION ]]; then
  pw=$(mktemp -p "$PGD"); chown postgres "$pw"; chmod 600 "$pw"
  python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "$pw"  # then forgotten
  runuser -u postgres -- "$PGBIN/initdb" -D "$PGD/data" -U postgres --pwfile="$pw" \
      --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
      > "$PGD/initdb.log" 2>&1 || { rm -f "$pw"; cat "$PGD/initdb.log" >&2; die "initdb failed"; }
  rm -f "$pw"
  # peer over the socket through one map: everyone as themselves, root also as nora_admin
  sed -i -E 's/^(local[[:space:]]+all[[:space:]]+all[[:space:]]+peer)[[:space:]]*$/\1 map=nora/' \
      "$PGD/data/pg_hba.conf"
  grep -Eq '^local[[:space:]]+all[[:space:]]+all[[:space:]]+peer map=nora' "$PGD/data/pg_hba.conf" \
    || die "could not set peer authentication with the map 'nora' in $PGD/data/pg_hba.conf"
  printf 'nora root %s\nnora /^(.*)$ \\1\n' "$PGADMIN" >> "$PGD/data/pg_ident.conf"
fi
if ! alive "$PGD/data/postmaster.pid"; then
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $NORA_HUB_PG_PORT -k $PGD/sock -c max_connections=200" start >/dev/null \
    || { tail -20 "$PGD/postgres.log" >&2; die "PostgreSQL did not start"; }
fi
su_psql() { runuser -u postgres -- psql -h "$PGD/sock" -p "$NORA_HUB_PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
su_psql -c "SELECT 1 FROM pg_roles WHERE rolname='$PGADMIN'" | grep -q 1 \
  || su_psql -c "CREATE ROLE $PGADMIN LOGIN CREATEROLE NOSUPERUSER" >/dev/null
if ! su_psql -c "SELECT 1 FROM pg_database WHERE datname='nora'" | grep -q 1; then
  su_psql -c "CREATE DATABASE nora OWNER $PGADMIN TEMPLATE template0" >/dev/null
  su_psql -d nora -c "ALTER SCHEMA public OWNER TO $PGADMIN" >/dev/null
fi
# root (the administrator's tool) logs in as nora_admin by peer; no password anywhere
ADMIN_DB="postgresql://$PGADMIN@/nora?host=$PGD/sock&port=$NORA_HUB_PG_PORT"
fact NORA_ADMIN_DB "$ADMIN_DB"
# the labs' URL names no user: each lab logs in as its own OS account's role, by peer
fact NORA_DB "postgresql:///nora?host=$PGD/sock&port=$NORA_HUB_PG_PORT"
fact NORA_DB_TCP "postgresql://127.0.0.1:$NORA_HUB_PG_PORT/nora"
say "PostgreSQL up (port $NORA_HUB_PG_PORT; peer over $PGD/sock, SCRAM over TCP)"

# 4. the archive: storage root shared by the group nora-lab; its administrator first ----
getent group nora-lab >/dev/null || groupadd nora-lab
chgrp nora-lab "$BASE/archive"; chmod 2775 "$BASE/archive"
fact NORA_ROOT "$BASE/archive"
NORA_DB=$ADMIN_DB NORA_HOME=$BASE/state/admin-home "$VENV_SRC/bin/python" -c '
import sys
from nora_lab.archive import Archive
arc = Archive.open(user=sys.argv[1])  # the database session acts as the administrator
if not arc.is_admin:
    sys.exit(f"the archive at $NORA_DB already has another administrator; {arc.user!r} is not one")
for u in sys.argv[2:]:
    arc.add_user(u)
' "$ADMIN" $USERS || die "the archive could not be initialised"

# 5. demo users (created here only if missing; marked so that down.sh may remove them) ---
touch "$BASE/state/passwords"; chmod 600 "$BASE/state/passwords"
new_password() {
  local pw; pw=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
  echo "$1:$pw" | chpasswd
  sed -i "/^$1:/d" "$BASE/state/passwords"; echo "$1:$pw" >> "$BASE/state/passwords"
}
for u in $USERS; do
  if ! id "$u" >/dev/null 2>&1; then
    useradd -m -d "$BASE/home/$u" -s /bin/bash -c "$MARK" -G nora-lab "$u"
    new_password "$u"
    say "created user $u (password in $BASE/state/passwords)"
  elif [[ ! -d $(getent passwd "$u" | cut -d: -f6) ]]; then
    # left by an earlier run that was killed: ours (marked) get a home here; others are not touched
    [[ $(getent passwd "$u" | cut -d: -f5) == "$MARK" ]] \
      || die "user $u exists but has no home folder ($(getent passwd "$u" | cut -d: -f6)); labs start there: create it"
    usermod -d "$BASE/home/$u" -G nora-lab "$u"
    cp -rT /etc/skel "$BASE/home/$u"; chown -R "$u:" "$BASE/home/$u"; chmod 755 "$BASE/home/$u"
    new_password "$u"
    say "reused user $u of an earlier run (new home and password)"
  elif ! grep -q "^$u:" "$BASE/state/passwords" && [[ $(getent passwd "$u" | cut -d: -f5) == "$MARK" ]]; then
    new_password "$u"
  fi
done

# 6. the labs' Python (executable by every user) --------------------------------------------
fact NORA_HUB_VENV "$(bash "$HUBDIR/lab_venv.sh" "$BASE/venv" "$VENV_SRC")"

# 7. JupyterHub ---------------------------------------------------------------------------------
TOKEN=$BASE/state/service_token
[[ -s $TOKEN ]] || (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' > "$TOKEN")
[[ -n ${NORA_HUB_HUB_PORT:-} ]] || fact NORA_HUB_HUB_PORT "$(free_port)"
[[ -n ${NORA_HUB_PROXY_API_PORT:-} ]] || fact NORA_HUB_PROXY_API_PORT "$(free_port)"
fact NORA_HUB_BIND_URL "${NORA_HUB_BIND_URL:-http://127.0.0.1:8000}"
fact NORA_HUB_STATE_DIR "$BASE/state"
fact NORA_HUB_SERVICE_TOKEN_FILE "$TOKEN"
fact NORA_HUB_HUB_IP 127.0.0.1
fact NORA_HUB_EXECHOST 127.0.0.1
fact NORA_HUB_ALLOWED_USERS "${NORA_HUB_ALLOWED_USERS:-$(echo $USERS | tr ' ' ',')}"
fact NORA_HUB_ADMIN_USERS "${NORA_HUB_ADMIN_USERS:-}"
fact NORA_HUB_CHP "$CHP"
fact NORA_HUB_CONFIG "$REPO/jupyterhub_config.py"
URL=${NORA_HUB_BIND_URL%/}
if alive "$BASE/state/hub.pid" && curl -sf -o /dev/null "$URL/hub/api/"; then
  say "hub already running (pid $(cat "$BASE/state/hub.pid"))"
else
  (cd "$BASE/state" && { PATH=$VENV_SRC/bin:$PATH nohup "$VENV_SRC/bin/jupyterhub" \
      -f "$REPO/jupyterhub_config.py" < /dev/null >> "$BASE/state/jupyterhub.log" 2>&1 &
    echo $! > "$BASE/state/hub.pid"; })
  for _ in $(seq 1 300); do
    curl -sf -o /dev/null "$URL/hub/api/" && break
    alive "$BASE/state/hub.pid" || { tail -30 "$BASE/state/jupyterhub.log" >&2; die "the hub died (log above)"; }
    sleep 0.2
  done
  curl -sf -o /dev/null "$URL/hub/api/" || { tail -30 "$BASE/state/jupyterhub.log" >&2; die "the hub does not answer at $URL"; }
  say "hub up (pid $(cat "$BASE/state/hub.pid"))"
fi
fact NORA_HUB_PID "$(cat "$BASE/state/hub.pid")"
cat <<EOF
nora_lab lab running:
  open        $URL/   (users: $USERS; passwords in $BASE/state/passwords)
  archive     NORA_DB=$NORA_DB NORA_ROOT=$NORA_ROOT (administrator: $ADMIN)
  hub API     token in $TOKEN;  Slurm: export SLURM_CONF=$SLURM_CONF
  logs        $BASE/state/jupyterhub.log, ~user/.nora-lab-<job>.log, $BASE/slurm/log/
  stop        scripts/hub/down.sh   (NORA_HUB_BASE=$BASE)
EOF

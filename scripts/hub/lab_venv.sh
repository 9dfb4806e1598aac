#!/usr/bin/env bash
# A Python environment for the labs that every user can execute; prints its path.
#
# Labs run as the users, so their Python must be executable by them. A venv made from a
# Python under /root (pyenv, mode 0700) is not: batchspawner's job then dies with
# "execve(): ...: Permission denied". This script
#   - prints SRC (default: the repo's .venv) when a normal user can run its Python;
#   - else builds DEST as an overlay: a venv of the system's python3 of the same minor
#     version that loads SRC's site-packages (compiled wheels are per minor version) and
#     gets SRC's console scripts with its own interpreter and SRC's Jupyter data/config.
# The overlay is the demo's and the tests' shortcut. A site builds a real environment:
#   python3 -m venv /opt/nora_lab && /opt/nora_lab/bin/pip install nora_lab jupyterhub batchspawner
#
# Usage: scripts/hub/lab_venv.sh DEST [SRC]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DEST=${1:?usage: lab_venv.sh DEST [SRC]}
SRC=$(cd "${2:-$REPO/.venv}" && pwd)
PY_SRC=$SRC/bin/python

probe_user=nobody
if [[ $(id -u) != 0 ]] || runuser -u "$probe_user" -- "$PY_SRC" -c 'import nora_lab.server, jupyterhub, batchspawner' 2>/dev/null; then
  echo "$SRC"; exit 0
fi

minor=$("$PY_SRC" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
SYS_PY=""
for cand in "/usr/bin/python$minor" "/usr/local/bin/python$minor" /usr/bin/python3; do
  if [[ -x $cand ]] && [[ $("$cand" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")') == "$minor" ]] \
     && runuser -u "$probe_user" -- "$cand" -c pass 2>/dev/null; then SYS_PY=$cand; break; fi
done
if [[ -z $SYS_PY ]]; then
  echo "lab_venv.sh: $PY_SRC cannot be run by other users and no system python$minor was found;" >&2
  echo "  install it (apt-get install python$minor-venv) or build the labs' venv from a Python every user can run" >&2
  exit 1
fi

SITE=$("$PY_SRC" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [[ ! -x $DEST/bin/python ]]; then
  "$SYS_PY" -m venv --without-pip "$DEST"
fi
DSITE=$("$DEST/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import site; site.addsitedir('$SITE')" > "$DSITE/_nora_lab_overlay.pth"
# console scripts of SRC, run by DEST's interpreter
for f in "$SRC"/bin/*; do
  name=$(basename "$f")
  [[ -f $f && ! -L $f ]] || continue
  head -c 2 "$f" | grep -q '#!' || continue
  head -n 1 "$f" | grep -q "python" || continue
  { echo "#!$DEST/bin/python"; tail -n +2 "$f"; } > "$DEST/bin/$name.tmp"
  chmod 755 "$DEST/bin/$name.tmp"; mv "$DEST/bin/$name.tmp" "$DEST/bin/$name"
done
# Jupyter data (lab assets, kernelspecs) and server config (enabled extensions)
mkdir -p "$DEST/share" "$DEST/etc/jupyter/jupyter_server_config.d"
[[ -e $DEST/share/jupyter ]] || ln -s "$SRC/share/jupyter" "$DEST/share/jupyter"
if [[ -d $SRC/etc/jupyter ]]; then cp -r "$SRC/etc/jupyter/." "$DEST/etc/jupyter/"; fi
cp "$REPO/jupyter-config/jupyter_server_config.d/nora_lab.json" "$DEST/etc/jupyter/jupyter_server_config.d/"
chmod -R a+rX "$DEST"
runuser -u "$probe_user" -- "$DEST/bin/python" -c 'import nora_lab.server, jupyterhub, batchspawner, dask_jobqueue' \
  || { echo "lab_venv.sh: the overlay at $DEST cannot import nora_lab as $probe_user" >&2; exit 1; }
echo "$DEST"

#!/usr/bin/env bash
# Install the system packages nora_lab's suite runs against for real (Debian).
# Idempotent: installs only what is missing. The services themselves are started by the
# tests' own fixtures, in temp dirs on free ports, and stopped by PID.
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# package  (why)
for pkg in \
    postgresql      `# the shared archive database (tests run every archive test on it)` \
    chromium        `# widgets are tested in real JupyterLab, headless` \
    slurmctld slurmd slurm-client munge  `# a real single-node Slurm for the batch tests` \
    orthanc dcmtk   `# a real PACS and dcmtk's tools as DICOM peers` \
    orthanc-dicomweb  `# Orthanc's DICOMweb plugin: QIDO-RS/WADO-RS/STOW-RS tests` \
    octave          `# GNU Octave: the free runtime of MATLAB batch jobs` \
    acl             `# setfacl: the file system mirrors each project's rights` \
    ; do
  have_pkg "$pkg" || need+=("$pkg")
done

command -v npm >/dev/null || need+=(nodejs npm)   # the hub's proxy comes from npm

if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "install_services: missing Debian packages: ${need[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "install_services: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
  # Debian starts a cluster on install where systemd runs; the tests use their own.
fi
# the hub's configurable-http-proxy, pinned by scripts/hub/package-lock.json
if [[ ! -x scripts/hub/node_modules/.bin/configurable-http-proxy ]]; then
  npm ci --no-audit --no-fund --prefix scripts/hub >/dev/null
fi
echo "install_services: all present"

"""JupyterHub for a nora_lab lab: every user's JupyterLab is a Slurm job next to the data.

    jupyterhub -f jupyterhub_config.py          # as root (it starts labs as the users)

Every setting comes from an environment variable, so one file serves every site; the
defaults suit a single machine. docs/deploy.md lists them all (a test checks that it
does) and scripts/hub/up.sh sets them for the demo.

The pieces:

* **Users log in** with their Linux accounts (PAM, the default) or against LDAP
  (``NORA_HUB_AUTH=ldap``). Labs run *as the user*, so the user must exist on the
  compute nodes too (LDAP sites: sssd/nslcd).
* **Each lab is a Slurm job** (batchspawner's SlurmSpawner, with nora_lab's checked
  options form: partition, cores, memory, walltime). The job script is
  :data:`BATCH_SCRIPT` below.
* **Every lab opens the same archive** — ``$NORA_DB`` (PostgreSQL) and ``$NORA_ROOT``
  (shared storage) are handed to each lab, which opens it as the user's own database
  role (PostgreSQL authenticates it; row-level security decides). The URL must not
  carry a password (the hub refuses to start): use PostgreSQL's peer/cert
  authentication or the user's own ``~/.pgpass`` (docs/deploy.md, "Threat model").
* **Batches** started in a notebook go to Slurm through dask-jobqueue as that user
  (``SLURM_CONF`` is passed on when set).
* nora_lab's **server extension** (links, REST import) is enabled in every lab by the
  installed ``jupyter_server_config.d/nora_lab.json``.
"""

import os
import pwd
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

c = get_config()  # noqa: F821 - provided by JupyterHub

HERE = Path(__file__).resolve().parent


def env(name, default=""):
    """``$NORA_HUB_<name>``, else the default."""
    return os.environ.get(f"NORA_HUB_{name}", default).strip()


def env_list(name, default="", sep=","):
    return [x.strip() for x in env(name, default).split(sep) if x.strip()]


def env_bool(name, default=False):
    value = env(name, "1" if default else "0").lower()
    if value not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise ValueError(f"NORA_HUB_{name}={value!r}: expected 1/0, true/false, yes/no")
    return value in ("1", "true", "yes", "on")


# --- where the hub keeps its state, where it listens ------------------------------------
STATE = Path(env("STATE_DIR", os.getcwd())).resolve()
STATE.mkdir(parents=True, exist_ok=True)
c.JupyterHub.db_url = env("DB_URL", f"sqlite:///{STATE / 'jupyterhub.sqlite'}")
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.bind_url = env("BIND_URL", "http://:8000")     # what users open (the proxy)
if env("PUBLIC_URL"):
    c.JupyterHub.public_url = env("PUBLIC_URL")             # links then carry this address
# the hub's API: the labs (on compute nodes) call back here
c.JupyterHub.hub_ip = env("HUB_IP", "0.0.0.0")
c.JupyterHub.hub_port = int(env("HUB_PORT", "8081"))
c.JupyterHub.hub_connect_ip = env("HUB_CONNECT_IP", socket.gethostname()
                                  if c.JupyterHub.hub_ip in ("", "0.0.0.0") else c.JupyterHub.hub_ip)

# configurable-http-proxy, started and stopped by the hub; its API on loopback only
_chp_local = HERE / "scripts" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [env("CHP", str(_chp_local) if _chp_local.exists()
                                       else "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(env('PROXY_API_PORT', '8001'))}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.JupyterHub.cleanup_servers = env_bool("CLEANUP_SERVERS", True)   # scancel labs on stop

# --- who may log in -----------------------------------------------------------------------
AUTH = env("AUTH", "pam").lower()
if AUTH == "pam":
    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.allowed_groups = set(env_list("ALLOWED_GROUPS"))
elif AUTH == "ldap":
    # pip install jupyterhub-ldapauthenticator; users must also exist on the nodes (sssd)
    c.JupyterHub.authenticator_class = "ldapauthenticator.LDAPAuthenticator"
    c.LDAPAuthenticator.server_address = env("LDAP_SERVER")
    if env("LDAP_PORT"):
        c.LDAPAuthenticator.server_port = int(env("LDAP_PORT"))
    c.LDAPAuthenticator.tls_strategy = env("LDAP_TLS", "before_bind")  # | on_connect | insecure
    c.LDAPAuthenticator.bind_dn_template = env_list("LDAP_BIND_DN_TEMPLATE", sep=";")
    c.LDAPAuthenticator.allowed_groups = env_list("LDAP_ALLOWED_GROUPS", sep=";")
    if env_bool("LDAP_LOOKUP_DN"):
        c.LDAPAuthenticator.lookup_dn = True
        c.LDAPAuthenticator.user_search_base = env("LDAP_USER_SEARCH_BASE")
        c.LDAPAuthenticator.user_attribute = env("LDAP_USER_ATTRIBUTE", "uid")
        c.LDAPAuthenticator.lookup_dn_user_dn_attribute = env("LDAP_USER_ATTRIBUTE", "uid")
        c.LDAPAuthenticator.lookup_dn_search_user = env("LDAP_SEARCH_USER") or None
        if env("LDAP_SEARCH_PASSWORD_FILE"):  # a secret: from a file, never the environment
            c.LDAPAuthenticator.lookup_dn_search_password = Path(
                env("LDAP_SEARCH_PASSWORD_FILE")).read_text().strip()
else:
    raise ValueError(f"NORA_HUB_AUTH={AUTH!r}: expected pam or ldap")
c.Authenticator.admin_users = set(env_list("ADMIN_USERS"))
c.Authenticator.allowed_users = set(env_list("ALLOWED_USERS"))
c.Authenticator.allow_all = env_bool("ALLOW_ALL", False)

# an API token for automation (scripts/hub/up.sh, tests): a service with the admin role
if env("SERVICE_TOKEN_FILE"):
    c.JupyterHub.services = [{"name": "nora-admin",
                              "api_token": Path(env("SERVICE_TOKEN_FILE")).read_text().strip()}]
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["nora-admin"]}]

# --- every lab: a Slurm job running as the user -------------------------------------------
c.JupyterHub.spawner_class = "nora_lab.server.spawner.NoraSlurmSpawner"
VENV = Path(env("VENV", sys.prefix))             # a Python env every user can execute
c.NoraSlurmSpawner.batchspawner_singleuser_cmd = f"{VENV}/bin/python -m batchspawner.singleuser"
c.Spawner.cmd = [f"{VENV}/bin/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# sbatch/squeue/scancel run as the user, with the lab's environment only (PATH included):
# hence absolute paths for the prefix
if os.geteuid() == 0 and shutil.which("runuser"):
    _prefix = f"{shutil.which('runuser')} -u {{username}} --"   # keeps the environment
else:
    _prefix = f"{shutil.which('sudo') or 'sudo'} -E -u {{username}}"  # hub user needs sudo rights
c.NoraSlurmSpawner.exec_prefix = env("EXEC_PREFIX", _prefix)

# the options form: what is offered, what is preselected, the limits
c.NoraSlurmSpawner.partitions = env_list("PARTITIONS")        # empty: what sinfo lists
c.NoraSlurmSpawner.req_partition = env("PARTITION")           # empty: the first offered
c.NoraSlurmSpawner.req_nprocs = env("CORES", "1")
c.NoraSlurmSpawner.req_memory = env("MEMORY", "4G")
c.NoraSlurmSpawner.req_runtime = env("WALLTIME", "08:00:00")
c.NoraSlurmSpawner.max_cores = int(env("MAX_CORES", "8"))
c.NoraSlurmSpawner.max_memory = env("MAX_MEMORY", "64G")
c.NoraSlurmSpawner.max_walltime = env("MAX_WALLTIME", "7-00:00:00")
c.NoraSlurmSpawner.start_timeout = int(env("START_TIMEOUT", "300"))   # queue wait included
c.NoraSlurmSpawner.http_timeout = int(env("HTTP_TIMEOUT", "120"))
c.NoraSlurmSpawner.startup_poll_interval = 0.25   # squeue polls while the job starts
if env("EXECHOST"):   # the address the proxy reaches a lab at, when node names do not resolve
    c.NoraSlurmSpawner.state_exechost_exp = env("EXECHOST")
# group-writable files in the shared archive (storage root: setgid group folder)
c.NoraSlurmSpawner.req_prologue = "\n".join(
    [f"umask {env('UMASK', '0002')}"] + env_list("PROLOGUE", sep=";"))

#: The job script of every lab (Jinja2, rendered by batchspawner for each spawn).
#: {{partition}} {{nprocs}} {{memory}} {{runtime}}: the user's checked choices;
#: {{homedir}}: the user's home; {{keepvars}}: the variables the hub hands over (its API
#: token for this lab, NORA_DB, NORA_ROOT, PATH, SLURM_CONF, ...: nothing else of the
#: hub's environment reaches the job); {{prologue}}: umask and NORA_HUB_PROLOGUE lines;
#: {{cmd}}: batchspawner-singleuser jupyterhub-singleuser <args>, started by srun so that
#: Slurm tracks and stops the lab. Replace it with NORA_HUB_BATCH_SCRIPT=<file>.
BATCH_SCRIPT = """#!/bin/bash
#SBATCH --job-name=nora-lab
#SBATCH --output={{homedir}}/.nora-lab-%j.log
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
{% if partition %}#SBATCH --partition={{partition}}
{% endif %}{% if runtime %}#SBATCH --time={{runtime}}
{% endif %}{% if memory %}#SBATCH --mem={{memory}}
{% endif %}{% if nprocs %}#SBATCH --cpus-per-task={{nprocs}}
{% endif %}{% if gres %}#SBATCH --gres={{gres}}
{% endif %}{% if options %}#SBATCH {{options}}
{% endif %}
set -euo pipefail
trap 'echo SIGTERM received' TERM
{{prologue}}
{% if srun %}{{srun}} {% endif %}{{cmd}}
echo "nora-lab ended"
{{epilogue}}
"""
c.NoraSlurmSpawner.batch_script = (Path(env("BATCH_SCRIPT")).read_text()
                                   if env("BATCH_SCRIPT") else BATCH_SCRIPT)

# --- what each lab gets: the archive, the lab's Python, Slurm -----------------------------
NORA_DB = os.environ.get("NORA_DB", "")
if NORA_DB and urlsplit(NORA_DB).password:
    raise ValueError(
        "NORA_DB carries a password, which every lab would see in its environment and "
        "Slurm would keep with the job: remove it from the URL and use PostgreSQL peer or "
        "certificate authentication, or a ~/.pgpass / PGPASSFILE readable only by the hub")
lab_env = {
    "PATH": env("LAB_PATH", f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin"),
    "VIRTUAL_ENV": str(VENV),
}
for name in ("NORA_DB", "NORA_ROOT", "NORA_IMPORT_MAX_BYTES", "NORA_IMPORT_MAX_UNZIPPED",
             "NORA_IMPORT_MAX_FILES"):
    if os.environ.get(name):
        lab_env[name] = os.environ[name]
c.Spawner.environment = lab_env
c.Spawner.env_keep = ["LANG", "LC_ALL", "SLURM_CONF"]


def _check_user(spawner):
    """A hub user without a Linux account cannot run a job: say so before sbatch does."""
    try:
        pwd.getpwnam(spawner.user.name)
    except KeyError:
        raise ValueError(f"user {spawner.user.name!r} has no Linux account on the hub host; "
                         "labs run as the user (create it, or join the host to the "
                         "directory)") from None


c.Spawner.pre_spawn_hook = _check_user

"""jupyterhub_config.py: every setting from NORA_HUB_* variables, documented; the spawner's
options checked; the batch script as Slurm will see it."""

from __future__ import annotations

import os
import re

import pytest
from hubtest import REPO
from traitlets.config.loader import PyFileConfigLoader

from nora_lab._asyncio import run_sync
from nora_lab.errors import ConfigError
from nora_lab.server.spawner import NoraSlurmSpawner, check_options, memory_mb, walltime_seconds

pytestmark = pytest.mark.hub


@pytest.fixture
def hub_config(monkeypatch, tmp_path):
    """Load jupyterhub_config.py with exactly the given environment variables set."""
    for key in list(os.environ):
        if key.startswith(("NORA_HUB_", "NORA_DB", "NORA_ROOT", "NORA_IMPORT_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NORA_HUB_STATE_DIR", str(tmp_path / "state"))

    def load(**env):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return PyFileConfigLoader("jupyterhub_config.py", path=str(REPO)).load_config()
    return load


def test_defaults_pam_slurm_spawner_state_in_the_state_dir(hub_config, tmp_path):
    c = hub_config()
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.JupyterHub.spawner_class == "nora_lab.server.spawner.NoraSlurmSpawner"
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path / 'state' / 'jupyterhub.sqlite'}"
    assert c.JupyterHub.cookie_secret_file == str(tmp_path / "state" / "jupyterhub_cookie_secret")
    assert c.JupyterHub.bind_url == "http://:8000"
    assert c.Authenticator.allow_all is False and c.Authenticator.admin_users == set()
    assert re.fullmatch(r"/\S+/runuser -u \{username\} --", c.NoraSlurmSpawner.exec_prefix)
    assert c.Spawner.cmd[0].endswith("/bin/jupyterhub-singleuser")
    assert c.NoraSlurmSpawner.batchspawner_singleuser_cmd.endswith("-m batchspawner.singleuser")
    assert c.Spawner.environment["PATH"].startswith(c.Spawner.environment["VIRTUAL_ENV"] + "/bin:")
    assert "NORA_DB" not in c.Spawner.environment
    assert "SLURM_CONF" in c.Spawner.env_keep
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:8001"


def test_every_setting_follows_its_environment_variable(hub_config, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n{{cmd}}\n")
    c = hub_config(
        NORA_HUB_BIND_URL="https://:443", NORA_HUB_PUBLIC_URL="https://lab.example.org",
        NORA_HUB_HUB_IP="10.0.0.5", NORA_HUB_HUB_PORT="9081", NORA_HUB_PROXY_API_PORT="9001",
        NORA_HUB_CHP="/opt/chp/bin/configurable-http-proxy", NORA_HUB_CLEANUP_SERVERS="no",
        NORA_HUB_ADMIN_USERS="root2, carol", NORA_HUB_ALLOWED_USERS="dave",
        NORA_HUB_ALLOWED_GROUPS="radiology", NORA_HUB_ALLOW_ALL="yes",
        NORA_HUB_VENV="/opt/nora", NORA_HUB_EXEC_PREFIX="sudo -E -u {username}",
        NORA_HUB_PARTITIONS="gpu,cpu", NORA_HUB_PARTITION="cpu", NORA_HUB_CORES="2",
        NORA_HUB_MEMORY="8G", NORA_HUB_WALLTIME="04:00:00", NORA_HUB_MAX_CORES="32",
        NORA_HUB_MAX_MEMORY="256G", NORA_HUB_MAX_WALLTIME="2-00:00:00",
        NORA_HUB_START_TIMEOUT="600", NORA_HUB_HTTP_TIMEOUT="90", NORA_HUB_EXECHOST="127.0.0.1",
        NORA_HUB_UMASK="0027", NORA_HUB_PROLOGUE="module load fsl; export X=1",
        NORA_HUB_BATCH_SCRIPT=str(script), NORA_HUB_LAB_PATH="/opt/nora/bin:/usr/bin",
        NORA_HUB_DB_URL="postgresql://hub@db/hub")
    assert c.JupyterHub.bind_url == "https://:443"
    assert c.JupyterHub.public_url == "https://lab.example.org"
    assert (c.JupyterHub.hub_ip, c.JupyterHub.hub_port, c.JupyterHub.hub_connect_ip) == (
        "10.0.0.5", 9081, "10.0.0.5")
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:9001"
    assert c.ConfigurableHTTPProxy.command == ["/opt/chp/bin/configurable-http-proxy"]
    assert c.JupyterHub.cleanup_servers is False
    assert c.Authenticator.admin_users == {"root2", "carol"}
    assert c.Authenticator.allowed_users == {"dave"} and c.Authenticator.allow_all is True
    assert c.PAMAuthenticator.allowed_groups == {"radiology"}
    assert c.Spawner.cmd == ["/opt/nora/bin/jupyterhub-singleuser"]
    s = c.NoraSlurmSpawner
    assert s.exec_prefix == "sudo -E -u {username}"
    assert (s.partitions, s.req_partition, s.req_nprocs, s.req_memory, s.req_runtime) == (
        ["gpu", "cpu"], "cpu", "2", "8G", "04:00:00")
    assert (s.max_cores, s.max_memory, s.max_walltime) == (32, "256G", "2-00:00:00")
    assert (s.start_timeout, s.http_timeout, s.state_exechost_exp) == (600, 90, "127.0.0.1")
    assert s.req_prologue == "umask 0027\nmodule load fsl\nexport X=1"
    assert s.batch_script == "#!/bin/bash\n{{cmd}}\n"
    assert c.Spawner.environment["PATH"] == "/opt/nora/bin:/usr/bin"
    assert c.JupyterHub.db_url == "postgresql://hub@db/hub"


def test_labs_get_the_archive_but_never_a_password_in_its_url(hub_config):
    c = hub_config(NORA_DB="postgresql://nora@db.lab/nora", NORA_ROOT="/data/nora",
                   NORA_IMPORT_MAX_BYTES="5e9")
    assert c.Spawner.environment["NORA_DB"] == "postgresql://nora@db.lab/nora"
    assert c.Spawner.environment["NORA_ROOT"] == "/data/nora"
    assert c.Spawner.environment["NORA_IMPORT_MAX_BYTES"] == "5e9"
    with pytest.raises(ValueError, match="NORA_DB carries a password"):
        hub_config(NORA_DB="postgresql://nora:s3cret@db.lab/nora")


def test_ldap_settings_reach_ldapauthenticator(hub_config, tmp_path):
    from ldapauthenticator import LDAPAuthenticator

    pw = tmp_path / "search.pw"
    pw.write_text("hunter2\n")
    c = hub_config(NORA_HUB_AUTH="ldap", NORA_HUB_LDAP_SERVER="ldap.example.org",
                   NORA_HUB_LDAP_PORT="636", NORA_HUB_LDAP_TLS="on_connect",
                   NORA_HUB_LDAP_BIND_DN_TEMPLATE="uid={username},ou=people,dc=ex;"
                                                  "uid={username},ou=staff,dc=ex",
                   NORA_HUB_LDAP_ALLOWED_GROUPS="cn=nora,ou=groups,dc=ex",
                   NORA_HUB_LDAP_LOOKUP_DN="1", NORA_HUB_LDAP_USER_SEARCH_BASE="ou=people,dc=ex",
                   NORA_HUB_LDAP_USER_ATTRIBUTE="uid", NORA_HUB_LDAP_SEARCH_USER="cn=reader,dc=ex",
                   NORA_HUB_LDAP_SEARCH_PASSWORD_FILE=str(pw))
    assert c.JupyterHub.authenticator_class == "ldapauthenticator.LDAPAuthenticator"
    auth = LDAPAuthenticator(config=c)  # validates every name and type
    assert auth.server_address == "ldap.example.org" and auth.server_port == 636
    assert auth.tls_strategy.name == "on_connect"
    assert auth.bind_dn_template == ["uid={username},ou=people,dc=ex",
                                     "uid={username},ou=staff,dc=ex"]
    assert auth.allowed_groups == ["cn=nora,ou=groups,dc=ex"]
    assert auth.lookup_dn and auth.user_search_base == "ou=people,dc=ex"
    assert auth.lookup_dn_search_user == "cn=reader,dc=ex"
    assert auth.lookup_dn_search_password == "hunter2"


def test_unknown_auth_and_bad_booleans_are_refused(hub_config):
    with pytest.raises(ValueError, match="NORA_HUB_AUTH='oauth'"):
        hub_config(NORA_HUB_AUTH="oauth")
    with pytest.raises(ValueError, match="NORA_HUB_ALLOW_ALL='maybe'"):
        hub_config(NORA_HUB_AUTH="pam", NORA_HUB_ALLOW_ALL="maybe")


def test_every_nora_hub_variable_is_documented():
    names = set()
    for src in ("jupyterhub_config.py", "scripts/hub/up.sh", "scripts/hub/down.sh"):
        text = (REPO / src).read_text()
        names |= set(re.findall(r"NORA_HUB_[A-Z_]+", text))
        names |= {f"NORA_HUB_{n}" for n in
                  re.findall(r"""\benv(?:_list|_bool)?\(["']([A-Z_]+)["']""", text)}
    doc = (REPO / "docs" / "deploy.md").read_text()
    missing = sorted(n for n in names if not re.search(rf"`{n}`", doc))
    assert not missing, f"docs/deploy.md does not document {missing}"


# --- the job script ------------------------------------------------------------------------


def render(c, **subvars):
    from batchspawner.batchspawner import format_template

    base = {"homedir": "/home/alice", "keepvars": "PATH,NORA_DB", "partition": "",
            "runtime": "", "memory": "", "nprocs": "", "gres": "", "options": "",
            "prologue": c.NoraSlurmSpawner.req_prologue, "epilogue": "", "srun": "srun",
            "cmd": "/opt/nora/bin/python -m batchspawner.singleuser jupyterhub-singleuser"}
    return format_template(c.NoraSlurmSpawner.batch_script, **{**base, **subvars})


def test_the_batch_script_carries_the_users_choices(hub_config):
    c = hub_config()
    text = render(c, partition="import", nprocs="2", memory="4G", runtime="02:00:00")
    for line in ("#SBATCH --partition=import", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=4G",
                 "#SBATCH --time=02:00:00", "#SBATCH --export=PATH,NORA_DB",
                 "#SBATCH --output=/home/alice/.nora-lab-%j.log", "umask 0002",
                 "srun /opt/nora/bin/python -m batchspawner.singleuser jupyterhub-singleuser"):
        assert line in text.splitlines(), (line, text)
    bare = render(c)
    assert "--partition" not in bare and "--mem" not in bare and bare.startswith("#!/bin/bash\n")


# --- the spawner's options ------------------------------------------------------------------


LIMITS = dict(partitions=["proc", "import"], max_cores=8, max_memory_mb=64 * 1024,
              max_walltime="2-00:00:00")


def test_options_are_normalised_for_slurm():
    form = {"partition": ["import"], "cores": ["4"], "memory": ["1536M"], "walltime": ["1-2:03"]}
    assert check_options(form, **LIMITS) == {"partition": "import", "nprocs": "4",
                                             "memory": "1536M", "runtime": "1-02:03:00"}
    assert check_options({"memory": "2g", "runtime": "00:30:00"}, **LIMITS) == {
        "memory": "2G", "runtime": "00:30:00"}
    assert check_options({}, **LIMITS) == {}
    assert memory_mb("4GB") == 4096 and walltime_seconds("01:00") == 3600


@pytest.mark.parametrize("options, why", [
    ({"partition": "gpu"}, "partition 'gpu' is not offered; choose one of proc, import"),
    ({"partition": "proc --uid=0"}, "is not offered"),
    ({"cores": "0"}, "from 1 to 8"),
    ({"cores": "9"}, "from 1 to 8"),
    ({"cores": "2; rm -rf ~"}, "whole number"),
    ({"memory": "65G"}, "at most 64G"),
    ({"memory": "lots"}, "write it like 4G"),
    ({"walltime": "3-00:00:00"}, "to 2-00:00:00"),
    ({"walltime": "00:00:30"}, "from 00:01:00"),
    ({"walltime": "1:75:00"}, "up to 59"),
    ({"account": "physics"}, "unknown spawn option 'account'"),
])
def test_bad_options_are_refused_saying_what_is_allowed(options, why):
    with pytest.raises(ConfigError, match=re.escape(why)):
        check_options(options, **LIMITS)


def test_the_options_form_offers_the_partitions_escaped_and_preselected():
    s = NoraSlurmSpawner(partitions=["proc", "imp<ort"], req_partition="imp<ort",
                         req_memory="2G", max_cores=4)
    form = s._render_form()
    assert '<option value="imp&lt;ort" selected>' in form and '<option value="proc">' in form
    assert 'max="4"' in form and 'name="memory" value="2G"' in form and 'name="walltime"' in form
    with pytest.raises(ConfigError):
        s.options_from_form({"partition": ["gpu"]})


def test_options_sent_to_the_rest_api_are_checked_too():
    """JupyterHub >= 5.3 calls apply_user_options for API spawns: a refusal is a 400."""

    from tornado import web

    s = NoraSlurmSpawner(partitions=["proc"], max_cores=2)
    with pytest.raises(web.HTTPError) as err:
        run_sync(s._run_apply_user_options({"partition": "proc", "cores": "3"}))
    assert err.value.status_code == 400 and "from 1 to 2" in err.value.log_message
    run_sync(s._run_apply_user_options({"queue": "proc", "cores": 2, "walltime": "90:00"}))
    assert s.user_options == {"partition": "proc", "nprocs": "2", "runtime": "3-18:00:00"}


def test_the_spawner_waits_for_the_lab_to_listen_and_names_the_log_if_its_job_ends():
    """batchspawner reports the port before the lab listens; ours waits (0.1 s polls)."""
    import asyncio
    import socket

    from batchspawner import JobStatus

    class Probe(NoraSlurmSpawner):  # the scheduler's answer is scripted; the socket is real
        status = JobStatus.RUNNING

        async def query_job_status(self):
            return self.status

    async def listen_later(port, delay):
        await asyncio.sleep(delay)
        return await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)

    async def scenario():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        spawner = Probe(http_timeout=20, req_homedir="/home/alice")
        server_task = asyncio.ensure_future(listen_later(port, 0.5))
        t0 = asyncio.get_running_loop().time()
        await spawner._until_listening("127.0.0.1", port)
        waited = asyncio.get_running_loop().time() - t0
        (await server_task).close()
        spawner.status, spawner.job_id = JobStatus.NOTFOUND, "42"
        with pytest.raises(RuntimeError, match=r"job 42 ended while starting; see "
                                               r"/home/alice/\.nora-lab-42\.log"):
            await spawner._until_listening("127.0.0.1", port)
        return waited

    assert 0.4 < run_sync(scenario()) < 2

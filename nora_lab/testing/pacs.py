"""Real DICOM peers for tests, benchmarks and demos: Orthanc and dcmtk, started by PID.

(Was ``nora_lab.archive.pacs.peers``: test infrastructure does not live in the archive.)

:class:`OrthancServer` runs Debian's ``orthanc`` as a plain process with its own JSON
configuration in a temp dir: loopback peers only, free ports, storage in that dir,
``TCP_NODELAY=1``, with its DICOMweb plugin (Debian ``orthanc-dicomweb``) under
``/dicom-web/``. :func:`dcmtk` runs a dcmtk tool (``echoscu``, ``storescu``,
``findscu``, ``movescu``, ``storescp``…) with the same environment. A peer that cannot
start raises :class:`~nora_lab.testing.ServiceError` with the reason — never a skip.

>>> with OrthancServer(modalities={"NORA": ("NORA", "127.0.0.1", 11112)}) as pacs:  # doctest: +SKIP
...     pacs.load("/data/dicom/series")
...     pacs.node("pacs")          # a PacsNode pointing at it
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nora_lab.archive.pacs._net import peer_env
from nora_lab.testing import ServiceError, free_port

__all__ = ["OrthancServer", "dcmtk", "dcmtk_path", "free_port", "ServiceError"]

_INSTALL = "apt-get install -y orthanc dcmtk (or `make services`)"
#: Debian's Orthanc DICOMweb plugin (package orthanc-dicomweb)
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def dcmtk_path(tool: str) -> str:
    """The path of a dcmtk tool; :class:`ServiceError` naming the package if missing."""
    path = shutil.which(tool)
    if path is None:
        raise ServiceError(f"dcmtk's {tool} is not installed: {_INSTALL}")
    return path


def dcmtk(tool: str, *args: str, timeout: float = 120, check: bool = True,
          **kw: Any) -> subprocess.CompletedProcess:
    """Run a dcmtk tool with ``TCP_NODELAY=1``; its output as text."""
    proc = subprocess.run([dcmtk_path(tool), *map(str, args)], capture_output=True,
                          env=peer_env(), timeout=timeout, **kw)
    out = subprocess.CompletedProcess(proc.args, proc.returncode,
                                      proc.stdout.decode("latin-1"),
                                      proc.stderr.decode("latin-1"))
    if check and proc.returncode != 0:
        raise ServiceError(f"{tool} {' '.join(map(str, args))} failed "
                           f"({proc.returncode}): {out.stderr[-2000:] or out.stdout[-2000:]}")
    return out


class OrthancServer:
    """A throw-away Orthanc PACS.

    Parameters
    ----------
    base
        Folder for its config, database and log (default: a new temp dir).
    aet
        Orthanc's AE title.
    modalities
        The DICOM peers it knows, ``{name: (aet, host, port)}`` — C-MOVE destinations
        and the only callers it accepts (with ``DicomCheckModalityHost``).
    dicom_port, http_port
        Default: free ports.
    dicomweb
        Load the DICOMweb plugin (QIDO-RS, WADO-RS, STOW-RS at :attr:`dicomweb_url`).
    """

    def __init__(self, base: str | os.PathLike[str] | None = None, *, aet: str = "ORTHANC",
                 modalities: Mapping[str, tuple[str, str, int]] | None = None,
                 dicom_port: int | None = None, http_port: int | None = None,
                 dicomweb: bool = True) -> None:
        self._own_base = base is None
        self.base = Path(base or tempfile.mkdtemp(prefix="nora-orthanc-"))
        self.aet = aet
        self.modalities = dict(modalities or {})
        self.dicom_port = dicom_port or free_port()
        self.http_port = http_port or free_port()
        self.dicomweb = dicomweb
        self.proc: subprocess.Popen | None = None

    # --- life cycle -----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        db = str(self.base / "orthanc-db")
        return {
            "Name": "nora-test-pacs", "StorageDirectory": db, "IndexDirectory": db,
            "Plugins": [str(DICOMWEB_PLUGIN)] if self.dicomweb else [],
            "DicomWeb": {"Enable": self.dicomweb, "Root": "/dicom-web/"},
            "HttpServerEnabled": True, "HttpPort": self.http_port,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "RegisteredUsers": {}, "SslEnabled": False, "WebDavEnabled": False,
            "DicomServerEnabled": True, "DicomAet": self.aet, "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": True, "DicomCheckModalityHost": True,
            "DicomAlwaysAllowEcho": False, "DicomAlwaysAllowStore": False,
            "DicomAlwaysAllowFind": False, "DicomAlwaysAllowGet": False,
            "DicomAlwaysAllowMove": False, "UnknownSopClassAccepted": True,
            "DicomModalities": {n: {"AET": a, "Host": h, "Port": p}
                                for n, (a, h, p) in self.modalities.items()},
            "DicomScuTimeout": 30, "SynchronousCMove": True, "StableAge": 5,
            "SaveJobs": False, "OverwriteInstances": True, "StorageAccessOnFind": "Always",
            "CaseSensitivePN": False, "MetricsEnabled": False, "ExecuteLuaEnabled": False,
            "HttpRequestTimeout": 60,
        }

    def start(self, timeout: float = 30.0) -> OrthancServer:
        """Start the process and wait until its REST API answers."""
        exe = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
        if not os.path.exists(exe):
            raise ServiceError(f"Orthanc is not installed: {_INSTALL}")
        if self.dicomweb and not DICOMWEB_PLUGIN.exists():
            raise ServiceError(f"Orthanc's DICOMweb plugin is not installed ({DICOMWEB_PLUGIN}"
                               "): apt-get install -y orthanc-dicomweb (or `make services`)")
        self.base.mkdir(parents=True, exist_ok=True)
        cfg = self.base / "orthanc.json"
        cfg.write_text(json.dumps(self.config(), indent=2))
        self._log = open(self.base / "orthanc.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([exe, str(cfg)], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=peer_env(),
                                     start_new_session=True)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise ServiceError(f"Orthanc exited with code {self.proc.returncode} at "
                                   f"start: {self.log_tail()}")
            try:
                self.rest("GET", "/system")
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise ServiceError(f"Orthanc did not answer on port {self.http_port} within "
                           f"{timeout:.0f} s: {self.log_tail()}")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s); the storage stays."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
            del self._log

    def kill(self) -> None:
        """SIGKILL the process (a PACS that dies mid-transfer)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self, graceful: bool = False) -> None:
        """Stop — by SIGKILL unless ``graceful`` (Orthanc takes seconds to stop, and a
        throw-away PACS need not) — and, if the folder was created here, remove it."""
        if graceful:
            self.stop()
        else:
            self.kill()
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, n: int = 3000) -> str:
        try:
            return (self.base / "orthanc.log").read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    # --- REST -------------------------------------------------------------------------
    def rest(self, method: str, path: str, body: bytes | dict | None = None,
             timeout: float = 60) -> Any:
        """Call Orthanc's REST API; the decoded JSON answer."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data,
                                     method=method)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw[:1] in (b"{", b"[") else raw

    def load(self, *sources: str | os.PathLike[str]) -> list[str]:
        """Store DICOM files (or every file under folders) over HTTP; Orthanc's ids.

        Non-DICOM files (e.g. a README in the folder) are left out quietly.
        """
        ids = []
        for path in _files(sources):
            try:
                ans = self.rest("POST", "/instances", path.read_bytes())
            except urllib.error.HTTPError as exc:
                if exc.code == 400:  # not DICOM
                    continue
                raise
            ids.append(ans["ID"])
        return ids

    def clear(self) -> None:
        """Delete every patient."""
        for pid in self.rest("GET", "/patients"):
            self.rest("DELETE", f"/patients/{pid}")

    def count_instances(self) -> int:
        return int(self.rest("GET", "/statistics")["CountInstances"])

    def node(self, name: str = "pacs", **kw: Any) -> Any:
        """A :class:`~nora_lab.archive.pacs.nodes.PacsNode` for this server."""
        from nora_lab.archive.pacs.nodes import PacsNode

        return PacsNode(name=name, aet=self.aet, host="127.0.0.1", port=self.dicom_port, **kw)

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb service's base URL (QIDO-RS, WADO-RS and STOW-RS under it)."""
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    def web_node(self, name: str = "pacs-web", **kw: Any) -> Any:
        """A :class:`~nora_lab.archive.pacs.nodes.PacsNode` reaching this server by
        DICOMweb (``transport="dicomweb"``)."""
        from nora_lab.archive.pacs.nodes import PacsNode

        return PacsNode(name=name, aet=self.aet, transport="dicomweb", url=self.dicomweb_url,
                        **kw)


def _files(sources: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for s in sources:
        p = Path(s)
        out.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    return out

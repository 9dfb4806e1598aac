"""A small client of JupyterHub's REST API, for admins' notebooks, scripts and tests.

>>> hub = HubClient("http://127.0.0.1:8000", token)       # doctest: +SKIP
>>> hub.spawn("alice", partition="proc", cores=1)           # doctest: +SKIP
>>> hub.lab("alice").get("api/status")                       # doctest: +SKIP
>>> hub.lab("alice").execute("import getpass; print(getpass.getuser())")   # doctest: +SKIP

The token is sent in the ``Authorization`` header, never in a URL.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from nora_lab._asyncio import run_sync
from nora_lab.errors import NoraError

__all__ = ["HubClient", "LabClient", "HubError"]


class HubError(NoraError):
    """The hub or a lab answered an error; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def _request(method: str, url: str, token: str | None, data: Any = None, *,
             raw: bytes | None = None, headers: dict[str, str] | None = None,
             timeout: float = 60) -> tuple[int, Any, dict[str, str]]:
    body = raw if raw is not None else (json.dumps(data).encode() if data is not None else None)
    hdrs = dict(headers or {})
    if data is not None and raw is None:
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs["Authorization"] = f"token {token}"
    req = urllib.request.Request(url, method=method, data=body, headers=hdrs)

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as r:
            text = r.read().decode(errors="replace")
            status, rheaders = r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        status, rheaders = e.code, dict(e.headers)
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = text
    return status, payload, rheaders


@dataclass
class LabClient:
    """One user's lab, reached through the hub's proxy with that user's token."""

    url: str  # http://hub/user/<name>/
    token: str

    def call(self, method: str, path: str, data: Any = None, **kw: Any) -> tuple[int, Any, dict]:
        return _request(method, self.url + path.lstrip("/"), self.token, data, **kw)

    def get(self, path: str) -> Any:
        status, body, _ = self.call("GET", path)
        if status != 200:
            raise HubError(f"GET {self.url}{path}: {status} {body}", status, body)
        return body

    def execute(self, code: str, timeout: float = 300) -> str:
        """Run ``code`` in a new kernel of the lab; returns its output.

        Raises
        ------
        HubError
            With the traceback, if the code raised.
        """
        return run_sync(self._execute(code, timeout))

    async def _execute(self, code: str, timeout: float) -> str:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        status, kernel, _ = self.call("POST", "api/kernels", {"name": "python3"})
        if status != 201:
            raise HubError(f"starting a kernel in {self.url}: {status} {kernel}", status, kernel)
        ws_url = self.url.replace("http", "ws", 1) + f"api/kernels/{kernel['id']}/channels"
        ws = await websocket_connect(HTTPRequest(
            ws_url, headers={"Authorization": f"token {self.token}"}))
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": "", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False}}))
        out: list[str] = []
        error = None
        try:
            while True:
                raw = await asyncio.wait_for(ws.read_message(), timeout)
                if raw is None:
                    raise HubError(f"the kernel of {self.url} closed its channel")
                m = json.loads(raw)
                if m.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = m["msg_type"]
                if kind == "stream":
                    out.append(m["content"]["text"])
                elif kind in ("execute_result", "display_data"):
                    out.append(m["content"]["data"].get("text/plain", "") + "\n")
                elif kind == "error":
                    error = (f"{m['content']['ename']}: {m['content']['evalue']}\n"
                             + "\n".join(m["content"]["traceback"]))
                elif kind == "status" and m["content"]["execution_state"] == "idle":
                    break
        finally:
            ws.close()
            self.call("DELETE", f"api/kernels/{kernel['id']}")
        if error is not None:
            raise HubError(f"code failed in {self.url}:\n{''.join(out)}\n{error}")
        return "".join(out)


class HubClient:
    """JupyterHub's REST API with an admin (or service) token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, data: Any = None, **kw: Any) -> tuple[int, Any]:
        status, body, _ = _request(method, f"{self.url}/hub/api/{path.lstrip('/')}",
                                   self.token, data, **kw)
        return status, body

    def _ok(self, method: str, path: str, data: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        status, body = self.call(method, path, data)
        if status not in ok:
            raise HubError(f"{method} /hub/api/{path}: {status} {body}", status, body)
        return body

    def user(self, name: str) -> dict[str, Any]:
        return self._ok("GET", f"users/{name}")

    def users(self) -> list[dict[str, Any]]:
        return self._ok("GET", "users")

    def add_user(self, name: str) -> None:
        self._ok("POST", f"users/{name}", ok=(201, 409))

    def token_for(self, name: str, expires_in: int = 3600, note: str = "nora_lab") -> str:
        """A new API token of user ``name`` (to call their lab as them)."""
        return self._ok("POST", f"users/{name}/tokens",
                        {"note": note, "expires_in": expires_in}, ok=(200, 201))["token"]

    def request_spawn(self, name: str, **options: Any) -> None:
        """Ask for ``name``'s lab (options: partition, cores, memory, walltime)."""
        self._ok("POST", f"users/{name}/server", options or None, ok=(201, 202, 400))

    def wait_ready(self, name: str, timeout: float = 300, poll: float = 0.25) -> dict[str, Any]:
        """Wait until ``name``'s lab is ready; its server model. HubError if it failed."""
        deadline = time.monotonic() + timeout
        while True:
            server = self.user(name).get("servers", {}).get("")
            if server and server.get("ready"):
                return server
            if not server or not server.get("pending"):
                raise HubError(f"the lab of {name!r} did not start (server: {server}); see "
                               f"the hub's log and ~{name}/.nora-lab-<job>.log")
            if time.monotonic() > deadline:
                raise HubError(f"the lab of {name!r} was not ready after {timeout:.0f} s: {server}")
            time.sleep(poll)

    def spawn(self, name: str, timeout: float = 300, **options: Any) -> dict[str, Any]:
        """Start ``name``'s lab and wait until it is ready."""
        self.add_user(name)
        self.request_spawn(name, **options)
        return self.wait_ready(name, timeout)

    def stop(self, name: str, timeout: float = 60) -> None:
        """Stop ``name``'s lab (cancels its Slurm job) and wait until it is gone."""
        status, body = self.call("DELETE", f"users/{name}/server")
        if status not in (202, 204, 400, 404):
            raise HubError(f"stopping the lab of {name!r}: {status} {body}", status, body)
        deadline = time.monotonic() + timeout
        while self.user(name).get("servers") and time.monotonic() < deadline:
            time.sleep(0.25)

    def lab(self, name: str, token: str | None = None) -> LabClient:
        """``name``'s lab through the proxy, called with a token of ``name``."""
        return LabClient(f"{self.url}/user/{name}/", token or self.token_for(name))

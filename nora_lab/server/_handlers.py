"""HTTP handlers: links (``nora/open``, ``nora/api/share``) and REST import
(``nora/api/import``)."""

from __future__ import annotations

import asyncio
import functools
import gzip
import html
import json
import os
import re
from http.client import responses
from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_escape, url_path_join
from tornado import web

from nora_lab import config as nora_config
from nora_lab.errors import NotFoundError, PermissionDenied
from nora_lab.server._app import NoraServer, no_right_message
from nora_lab.server.links import (
    LinkError,
    link_notebook,
    link_url,
    parse_call,
    resolve_call,
    save_share,
    write_notebook,
)
from nora_lab.server.uploads import (
    KINDS,
    UploadRejected,
    check_nifti_upload,
    check_zip,
    extract_multipart,
)

# a subject / study id (it names a folder)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@,-]{0,199}$")
_FRAMING = 1 << 20  # multipart headers and boundaries allowed on top of the zip
_NIFTI = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@,-]{0,199}\.nii(\.gz)?$")
_DRAIN = 64 << 20  # an upload this much too large is read and dropped, to answer 413 politely
_URL_TOKEN = ("a token in the URL is refused here: send it in the Authorization header "
              "(Authorization: token <your Jupyter or hub API token>)")


class _Nora:
    """What every nora handler shares (a mixin for Jupyter's handler classes)."""

    @property
    def nora(self) -> NoraServer:
        return self.settings["nora"]  # type: ignore[attr-defined]

    def archive_user(self) -> str:
        """The authenticated hub user under JupyterHub; else the lab's user."""
        provider = self.identity_provider  # type: ignore[attr-defined]
        if type(provider).__module__.startswith("jupyterhub"):
            return self.current_user.username  # type: ignore[attr-defined]
        return self.nora.user or nora_config.current_user()

    def fail(self, status: int, message: str) -> web.HTTPError:
        return web.HTTPError(status, message)  # shown as is: never formatted with args

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The message, as is: JSON for the API, a short page for links (Jupyter's pages
        would not show it; its API errors double a '%')."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        reason = responses.get(status_code, "Error")
        message = reason
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args  # tornado keeps a lone '%' as '%%'
        if isinstance(self, APIHandler):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": message, "reason": None}))
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")  # type: ignore[attr-defined]
        page = (f"<!DOCTYPE html>\n<html><head><title>nora_lab link: {status_code} "
                f"{reason}</title></head>\n<body><h1>{status_code} {reason}</h1>\n"
                f'<p class="nora-error">{html.escape(message)}</p></body></html>\n')
        self.finish(page)  # type: ignore[attr-defined]

    def refuse_url_token(self) -> None:
        if "token" in self.request.query_arguments:  # type: ignore[attr-defined]
            self.current_user = None
            setattr(self, "_jupyter_current_user", None)  # noqa: B010 - Jupyter's cache
            raise self.fail(400, _URL_TOKEN)

    async def authenticate(self, prepare: Any) -> None:
        """Jupyter's own checks, with a 403 that says how to authenticate."""
        self.refuse_url_token()
        try:
            await prepare()
        except web.HTTPError as exc:
            if exc.status_code == 403 and self.current_user is None:
                raise self.fail(403, "authentication required: send your Jupyter or hub API "
                                "token as 'Authorization: token <token>'") from None
            raise

    def project_name(self) -> str:
        name = self.get_query_argument("project", "")  # type: ignore[attr-defined]
        if not name:
            raise self.fail(400, "name the project: ?project=<name>")
        return name

    async def user_project(self, name: str) -> Any:
        user = self.archive_user()
        try:
            return await self.nora.project_async(user, name)
        except NotFoundError:
            raise self.fail(403, no_right_message(user, name)) from None

    def link_base(self) -> str:
        """Where links point: the hub's user-redirect (anyone's own lab), else this lab."""
        req = self.request  # type: ignore[attr-defined]
        origin = f"{req.protocol}://{req.host}"
        if os.environ.get("JUPYTERHUB_BASE_URL"):
            hub = os.environ.get("JUPYTERHUB_PUBLIC_HUB_URL")
            if hub:
                return hub.rstrip("/") + "/user-redirect/"
            return origin + url_path_join(os.environ["JUPYTERHUB_BASE_URL"], "hub/user-redirect/")
        return origin + self.base_url  # type: ignore[attr-defined]


# the viewer widget's ES module (Niivue bundled) as nora_lab/widgets/static/viewer.js holds it;
# read as a file (the server never loads a widget module)
_VIEWER_JS = Path(__file__).resolve().parents[1] / "widgets" / "static" / "viewer.js"


@functools.lru_cache(maxsize=2)
def _viewer_module(mtime_ns: int) -> tuple[str, bytes]:
    """(source hash of its banner, the module gzipped) for ``mtime_ns`` of viewer.js."""
    code = _VIEWER_JS.read_bytes()
    m = re.search(rb"source-sha256: ([0-9a-f]{64})", code[:400])
    digest = m.group(1)[:16].decode() if m else "unbuilt"
    return digest, gzip.compress(code, compresslevel=9, mtime=0)


class ViewerModuleHandler(JupyterHandler):
    """``GET nora/static/viewer-<hash>.js``: the viewer's ES module over HTTP, once per browser.

    The loader every Viewer carries (static/viewer_loader.js) imports it from here, so the
    kernel's websocket carries volumes only; it asks the kernel instead where this server
    is not the page's (VS Code, Voilà) or holds another version of the bundle (404 here).
    """

    @web.authenticated
    def get(self, digest: str) -> None:
        current, blob = _viewer_module(_VIEWER_JS.stat().st_mtime_ns)
        if digest != current:
            raise web.HTTPError(404, f"viewer module {digest} is not this server's ({current})")
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "private, max-age=31536000, immutable")
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")
            self.finish(blob)
        else:
            self.finish(gzip.decompress(blob))


class OpenHandler(_Nora, JupyterHandler):
    """``GET nora/open?project=P&call={…}`` or ``&share=<id>``: a notebook, then JupyterLab."""

    async def prepare(self) -> None:  # type: ignore[override]
        self.refuse_url_token()
        await super().prepare()

    @web.authenticated
    async def get(self) -> None:
        name = self.project_name()
        project = await self.user_project(name)
        share = self.get_query_argument("share", None)
        call = self.get_query_argument("call", None)
        try:
            if share is not None:
                await asyncio.to_thread(project.get_json, "share", share)
                nb = link_notebook(name, share=share, url=self.request.uri)
                stem, state = f"{name}_share_{share}", None
            elif call is not None:
                state = await asyncio.to_thread(
                    resolve_call, project, parse_call(call, self.archive_user()))
                nb = link_notebook(name, state=state, url=self.request.uri)
                stem = f"{name}_{state['psid']}" + (
                    f"_{state['preset']}" if state["preset"] else "")
            else:
                raise LinkError('name what to open: &call={"pid": …, "sid": …} or &share=<id>')
        except LinkError as exc:
            raise self.fail(exc.status, str(exc)) from None
        except NotFoundError as exc:
            raise self.fail(404, f"{exc} (it was deleted, or the link is mistyped)") from None
        root = Path(self.settings["nora_root_dir"])
        path = await asyncio.to_thread(write_notebook, root / self.nora.links_dir, stem, nb)
        rel = path.relative_to(root).as_posix()
        if self.get_query_argument("format", "") == "json":
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"notebook": rel, "project": name, "share": share,
                                    "state": state}))
            return
        self.redirect(url_path_join(self.base_url, "lab/tree", url_escape(rel)))


class ShareHandler(_Nora, APIHandler):
    """``POST nora/api/share?project=P`` with ``{"state": {…}, "name": optional}``."""

    async def prepare(self) -> None:  # type: ignore[override]
        await self.authenticate(super().prepare)

    @web.authenticated
    async def post(self) -> None:
        name = self.project_name()
        if len(self.request.body) > self.nora.share_max_bytes:
            raise self.fail(413, f"shared state of {len(self.request.body)} bytes, over the "
                            f"limit of {self.nora.share_max_bytes}")
        body = self.get_json_body() or {}
        state = body.get("state", body) if isinstance(body, dict) else body
        project = await self.user_project(name)
        try:
            share_id = await asyncio.to_thread(save_share, project, state, body.get("name"))
        except PermissionDenied as exc:
            raise self.fail(403, str(exc)) from None
        except LinkError as exc:
            raise self.fail(exc.status, str(exc)) from None
        self.set_status(201)
        self.finish(json.dumps({"id": share_id, "project": name,
                                "url": link_url(name, share=share_id, base=self.link_base())}))


@web.stream_request_body
class ImportHandler(_Nora, APIHandler):
    """``POST nora/api/import?project=P[&patients_id=…&studies_id=…][&kind=…&name=…]``.

    ``kind``: ``dicom`` (default, a zip of DICOM), ``bids`` (a BIDS dataset as a zip) or
    ``nifti`` (one ``.nii``/``.nii.gz`` file called ``name``, filed into the subject
    ``patients_id``, study ``studies_id`` or ``upload``). The body is the upload
    (``Content-Type: application/zip``, or any for a NIfTI) or a multipart form with one
    file part; it streams to the job folder, is checked, then imported in the background.
    Answers 202 with the job (``id``, ``state``, ``url`` to poll). ``GET`` lists your jobs.
    """

    _job: tuple[str, Path] | None = None
    _body: Any = None
    _received = 0
    _too_big = 0

    async def prepare(self) -> None:  # type: ignore[override]
        await self.authenticate(super().prepare)
        if self.request.method != "POST":
            return
        name = self.project_name()
        project = await self.user_project(name)
        if project.role not in ("editor", "admin"):
            raise self.fail(403, f"importing into project {name!r} needs the editor role; "
                            f"user {project.archive.user!r} is {project.role}")
        options = {}
        for key in ("patients_id", "studies_id"):
            value = self.get_query_argument(key, None)
            if value:
                if not _ID.match(value):
                    raise self.fail(400, f"{key}={value!r}: use letters, digits and . _ + = @ , -")
                options[key] = value
        kind = self.get_query_argument("kind", "dicom")
        if kind not in KINDS:
            raise self.fail(400, f"kind={kind!r}: expected one of {', '.join(KINDS)}")
        if kind != "dicom":
            options["kind"] = kind
        if kind == "nifti":
            fname = self.get_query_argument("name", "")
            if not _NIFTI.match(fname) or ".." in fname:
                raise self.fail(400, f"name={fname!r}: a NIfTI upload needs its file name "
                                "(letters, digits, . _ + = @ , -; ending .nii or .nii.gz)")
            if "patients_id" not in options:
                raise self.fail(400, "a NIfTI upload goes to a subject: give patients_id")
            options["name"] = fname
        limit = self.nora.import_max_bytes
        connection: Any = self.request.connection  # an HTTP1Connection while a request runs
        connection.set_max_body_size(limit + _FRAMING + _DRAIN)
        length = int(self.request.headers.get("Content-Length") or 0)
        if length > limit + _FRAMING:
            expects = self.request.headers.get("Expect", "").lower() == "100-continue"
            if expects or length > limit + _FRAMING + _DRAIN:
                # curl waits for 100-continue and reads this; others may see a reset
                raise self.fail(413, self._too_big_message(length))
            self._too_big = length  # read and drop the body, then answer 413
            return
        self.nora.jobs.prewarm()  # its imports overlap the upload and the checks
        self._job = self.nora.jobs.new_job(project.archive.user, name, options)
        self._body = open(self._job[1] / "body.part", "wb")

    def _too_big_message(self, length: int) -> str:
        return (f"upload of {length} bytes, over the limit of {self.nora.import_max_bytes} "
                "bytes; split it or ask the admin to raise NORA_IMPORT_MAX_BYTES")

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._body is not None and self._received <= self.nora.import_max_bytes + _FRAMING:
            self._body.write(chunk)

    def on_finish(self) -> None:
        if self._body is not None and not self._body.closed:
            self._body.close()

    def on_connection_close(self) -> None:
        self.on_finish()
        if self._job is not None and not (self._job[1] / "upload.zip").exists():
            self.nora.jobs.discard(self._job[1])

    @web.authenticated
    async def post(self) -> None:
        if self._too_big:
            raise self.fail(413, self._too_big_message(self._too_big))
        assert self._job is not None and self._body is not None
        job_id, job_dir = self._job
        self._body.close()
        try:
            upload, checked = await asyncio.to_thread(self._check, job_dir)
        except UploadRejected as exc:
            self.nora.jobs.discard(job_dir)
            raise self.fail(exc.status, str(exc)) from None
        state = self.nora.jobs.start(job_dir, upload, checked)
        self.set_status(202)
        url = url_path_join(self.base_url, "nora/api/import", job_id)
        self.set_header("Location", url)
        self.finish(json.dumps({**state, "url": url}))

    def _check(self, job_dir: Path) -> tuple[Path, dict[str, Any]]:
        limit = self.nora.import_max_bytes
        body, upload = job_dir / "body.part", job_dir / "upload.zip"
        if self._received > limit + _FRAMING:
            raise UploadRejected(self._too_big_message(self._received), 413)
        ctype = self.request.headers.get("Content-Type", "")
        label = "the upload"
        if ctype.lower().startswith("multipart/form-data"):
            label = extract_multipart(body, ctype, job_dir / "upload.tmp") or label
            body.unlink()
            os.replace(job_dir / "upload.tmp", body)
        kind = self.get_query_argument("kind", "dicom")
        if kind == "nifti":
            name = self.get_query_argument("name")
            upload = job_dir / ("upload.nii.gz" if name.endswith(".gz") else "upload.nii")
            os.replace(body, upload)
            shape = check_nifti_upload(upload, self.nora.limits, label=name)
            return upload, {"nifti_shape": list(shape)}
        summary = check_zip(body, self.nora.limits, label=label, kind=kind)
        os.replace(body, upload)
        return upload, {"dicom_files": summary.dicom, "ignored": len(summary.ignored),
                        "unzipped_bytes": summary.unzipped_bytes}

    @web.authenticated
    async def get(self) -> None:
        self.finish(json.dumps({"jobs": self.nora.jobs.jobs(self.archive_user())}))


class ImportStateHandler(_Nora, APIHandler):
    """``GET nora/api/import/<id>``: the state of one of your import jobs."""

    async def prepare(self) -> None:  # type: ignore[override]
        await self.authenticate(super().prepare)

    @web.authenticated
    async def get(self, job_id: str) -> None:
        try:
            state = self.nora.jobs.state(job_id, self.archive_user())
        except NotFoundError as exc:
            raise self.fail(404, str(exc)) from None
        self.finish(json.dumps(state))

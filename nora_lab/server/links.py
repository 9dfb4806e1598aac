"""URL calls and shared links, as in NORA, for JupyterLab: the server's side.

* A **URL call** ``nora/open?project=P&call={"pid":"P001","sid":"S1","preset":"t1"}``
  opens a study (``sid`` left out: the subject's first study). ``preset`` names an
  autoloader preset; it is stored with the link and handed, in the kernel, to the
  functions in :data:`nora_lab.widgets.links.preset_loaders`. Only ``pid, sid, psid,
  preset, selmode, user`` are accepted; a ``token`` in a URL is refused — log in to the
  hub instead.
* A **shared link** ``nora/open?project=P&share=<id>`` opens a viewer state saved by
  :func:`nora_lab.widgets.share` as ``project.put_json("share", id, state)``; sharing with
  the same ``name`` overwrites it (NORA's "share again").

Opening either writes a notebook ``nora-links/<…>.ipynb`` into the user's lab and
redirects JupyterLab to it; running it re-opens the archive as that user, so rights are
checked when the link is opened *and* when the notebook runs. Under JupyterHub links go
through ``/hub/user-redirect/``, so a link works for whoever opens it — in their own lab,
with their own rights.

This module parses and checks what a request carries, saves shares and writes the
notebook; it never loads a widget. The kernel's side — a viewer's state, a viewer made
from a link — is :mod:`nora_lab.widgets.links`:

>>> from nora_lab.widgets import open_link, share
>>> link = share(viewer, project)                   # doctest: +SKIP
>>> viewer = open_link(project, share="Xy3…")        # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from nora_lab._lazy import deprecated_names
from nora_lab.errors import LinkError, NotFoundError

__all__ = ["LinkError", "parse_call", "resolve_call", "check_state", "save_share", "link_url",
           "link_notebook", "write_notebook", "CALL_KEYS"]

#: the kernel's side moved to nora_lab.widgets.links (this module never loads a widget)
__getattr__ = deprecated_names(__name__, {
    name: f"nora_lab.widgets.links:{name}"
    for name in ("preset_loaders", "viewer_state", "restore_viewer", "open_study",
                 "open_link", "share")})

CALL_KEYS = ("pid", "sid", "psid", "preset", "selmode", "user")
_SECRET_KEYS = ("token", "password", "passwd", "secret")
_SHARE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TEXT = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")


# --- URL calls ------------------------------------------------------------------------


def parse_call(text: str, user: str | None = None) -> dict[str, str]:
    """Check a URL call's JSON; returns ``{"pid", "sid", "psid", "preset", "selmode"}``.

    Raises
    ------
    LinkError
        Not JSON, unknown keys, a token in the URL, a link made for another user.
    """
    try:
        call = json.loads(text)
    except ValueError as exc:
        raise LinkError(f"call={text[:80]!r}: not JSON ({exc}); expected "
                        '{"pid": "<subject>", "sid": "<study>", "preset": "<name>"}') from None
    if not isinstance(call, dict):
        raise LinkError("call=…: expected a JSON object such as "
                        '{"pid": "P001", "sid": "S1"}')
    secrets_in = [k for k in call if k.lower() in _SECRET_KEYS]
    if secrets_in:
        raise LinkError(f"the link carries {', '.join(secrets_in)}: credentials never go "
                        "in a URL. Remove them and open the link after logging in to the hub.")
    unknown = sorted(set(call) - set(CALL_KEYS))
    if unknown:
        raise LinkError(f"call=…: unknown key(s) {', '.join(unknown)}; known: "
                        f"{', '.join(CALL_KEYS)}")
    out = {}
    for key, value in call.items():
        if not isinstance(value, str) or not _TEXT.match(value):
            raise LinkError(f"call=…: {key} must be a short text, got {value!r}")
        out[key] = value
    if user and out.get("user") not in (None, user):
        raise LinkError(f"this link names user {out['user']!r}, but you are logged in as "
                        f"{user!r}; remove \"user\" from the link to open it as yourself",
                        403)
    if not out.get("psid") and not out.get("pid"):
        raise LinkError('call=…: name the study with "pid" (and "sid") or "psid"')
    return out


def resolve_call(project: Any, call: dict[str, str]) -> dict[str, Any]:
    """The state a URL call opens: ``{"psid", "preset", "selmode"}`` of an existing study.

    Raises
    ------
    LinkError
        404 if the subject or study does not exist in the project.
    """
    psid = call.get("psid")
    if not psid:
        pid, sid = call["pid"], call.get("sid")
        if sid:
            psid = f"{pid}#{sid}"
        else:
            df = project.studies({"subject": pid}, order_by="date")
            df = df[df["subject"] == pid]
            if df.empty:
                raise LinkError(f"no subject {pid!r} with a study in project "
                                f"{project.name!r}", 404)
            psid = str(df["psid"].iloc[0])
    try:
        project.study(psid)
    except NotFoundError as exc:
        raise LinkError(str(exc), 404) from None
    return {"psid": psid, "preset": call.get("preset"), "selmode": call.get("selmode")}


# --- shares -------------------------------------------------------------------------------


def check_state(state: Any) -> dict[str, Any]:
    """A viewer state sent over HTTP: a JSON object whose layers name relative paths."""
    if not isinstance(state, dict):
        raise LinkError("a shared state must be a JSON object (see viewer_state)")
    layers = state.get("layers", [])
    if not isinstance(layers, list) or any(
            not isinstance(x, dict) or not isinstance(x.get("path"), str) for x in layers):
        raise LinkError('a shared state\'s "layers" must be a list of objects with a "path"')
    if not layers and not state.get("psid"):
        raise LinkError('a shared state needs "layers" or a "psid"')
    return state


def save_share(project: Any, state: dict[str, Any], name: str | None = None) -> str:
    """Save a viewer state as a shared link of ``project``; returns its id.

    ``name`` overwrites an existing share of that name (needs the editor role, as any
    ``put_json``).
    """
    share_id = name or secrets.token_urlsafe(12)
    if not _SHARE_ID.match(share_id):
        raise LinkError(f"share name {share_id!r}: use up to 64 letters, digits, '_', '-', '.'")
    doc = {**check_state(state), "shared_by": project.archive.user,
           "shared_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    project.put_json("share", share_id, doc)
    return share_id


def link_url(project: str, *, share: str | None = None, call: dict[str, str] | None = None,
             base: str | None = None) -> str:
    """The URL of a link. ``base`` defaults to the hub's ``/hub/user-redirect/`` inside a
    JupyterHub lab (``$JUPYTERHUB_PUBLIC_HUB_URL`` when the hub knows its public URL),
    else ``/``."""
    query = {"project": project}
    if share is not None:
        query["share"] = share
    if call is not None:
        query["call"] = json.dumps(call, separators=(",", ":"))
    if base is None:
        if os.environ.get("JUPYTERHUB_BASE_URL"):
            hub = (os.environ.get("JUPYTERHUB_PUBLIC_HUB_URL")
                   or os.environ["JUPYTERHUB_BASE_URL"].rstrip("/") + "/hub/")
            base = hub.rstrip("/") + "/user-redirect/"
        else:
            base = "/"
    return f"{base}nora/open?{urlencode(query)}"


# --- the notebook a link opens -----------------------------------------------------------------


def link_notebook(project: str, *, share: str | None = None,
                  state: dict[str, Any] | None = None, url: str = "") -> dict[str, Any]:
    """A notebook (nbformat 4 JSON) that opens a shared link or a URL call's state."""
    import nbformat.v4 as nbf

    args = f"share={share!r}" if share is not None else repr(state)
    what = f"shared link `{share}`" if share is not None else f"study `{(state or {})['psid']}`"
    if state and state.get("preset"):
        what += f" with preset `{state['preset']}`"
    code = ("from nora_lab.archive import Archive\n"
            "from nora_lab.widgets import open_link\n\n"
            f"project = Archive.open().project({project!r})   # as you: your rights apply\n"
            f"viewer = open_link(project, {args})\n"
            "viewer")
    nb = nbf.new_notebook(cells=[
        nbf.new_markdown_cell(f"# {project}: {what}\n\nOpened from a nora_lab link"
                              f"{f' ({url})' if url else ''}. Run the cell to show it; "
                              "opening the link again rewrites this notebook."),
        nbf.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["nora_link"] = {"project": project, "share": share, "state": state}
    return nb


def write_notebook(folder: Path, name: str, nb: dict[str, Any]) -> Path:
    """Write ``nb`` as ``folder/name`` (temp name, then rename); returns the path."""
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "link"
    path = folder / f"{safe[:120]}.ipynb"
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    tmp.write_text(nbformat.writes(nbformat.from_dict(nb)))
    os.replace(tmp, path)
    return path

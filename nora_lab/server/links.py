"""URL calls and shared links, as in NORA, for JupyterLab.

* A **URL call** ``nora/open?project=P&call={"pid":"P001","sid":"S1","preset":"t1"}``
  opens a study (``sid`` left out: the subject's first study). ``preset`` names an
  autoloader preset; it is stored with the link and handed to the functions in
  :data:`preset_loaders` (the autoloader registers there). Only ``pid, sid, psid,
  preset, selmode, user`` are accepted; a ``token`` in a URL is refused — log in to the
  hub instead.
* A **shared link** ``nora/open?project=P&share=<id>`` opens a viewer state saved by
  :func:`share` as ``project.put_json("share", id, state)``; calling :func:`share` with
  the same ``name`` overwrites it (NORA's "share again").

Opening either writes a notebook ``nora-links/<…>.ipynb`` into the user's lab and
redirects JupyterLab to it; running it re-opens the archive as that user, so rights are
checked when the link is opened *and* when the notebook runs. Under JupyterHub links go
through ``/hub/user-redirect/``, so a link works for whoever opens it — in their own lab,
with their own rights.

>>> link = share(viewer, project)                   # doctest: +SKIP
>>> viewer = open_link(project, share="Xy3…")        # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from nora_lab.errors import NoraError, NotFoundError, UnsafePathError

__all__ = ["preset_loaders", "LinkError", "parse_call", "resolve_call", "viewer_state",
           "restore_viewer", "open_study", "open_link", "save_share", "share", "link_url",
           "link_notebook", "write_notebook"]

#: ``loader(viewer, project, psid, preset) -> bool``: show ``psid`` in ``viewer`` as
#: ``preset`` says and return True, or return False for a preset it does not know. Tried
#: in order, before the project's saved autoloader recipe of that name.
preset_loaders: list[Callable[[Any, Any, str, str], bool]] = []

CALL_KEYS = ("pid", "sid", "psid", "preset", "selmode", "user")
_SECRET_KEYS = ("token", "password", "passwd", "secret")
_SHARE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TEXT = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")
_IMAGE_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh", ".nrrd", ".nhdr", ".hdr")
_VIEW_KEYS = ("position", "window", "layout", "slice_types", "mosaic", "active_viewport",
              "radiological")


class LinkError(NoraError):
    """A link cannot be opened; ``status`` is the HTTP answer (400, 403, 404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


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


# --- viewer states ----------------------------------------------------------------------


def viewer_state(viewer: Any, project: Any) -> dict[str, Any]:
    """The shareable state of a :class:`~nora_lab.widgets.Viewer` showing ``project`` files.

    Layers are recorded by their path relative to the project folder with their display
    settings; layers that are not files of the project (arrays, other folders) cannot be
    shared and are listed under ``"skipped"``.
    """
    root = Path(project.root).resolve()
    layers, skipped = [], []
    for spec in viewer.layers:
        data = viewer._data.get(spec["id"])
        origin = getattr(data, "origin", None)
        try:
            rel = Path(str(origin)).resolve().relative_to(root)
        except (TypeError, ValueError):
            skipped.append(spec.get("name", spec["id"]))
            continue
        layers.append({"path": rel.as_posix(), "name": spec.get("name"), "role": spec["role"],
                       "viewports": list(spec["viewports"]), "colormap": spec.get("colormap"),
                       "opacity": spec.get("opacity"), "window": spec.get("window"),
                       "color": spec.get("color"), "visible": spec.get("visible", True),
                       "outline": spec.get("outline", False)})
    psid = None
    if layers:
        parts = layers[0]["path"].split("/")
        psid = f"{parts[0]}#{parts[1]}" if len(parts) > 2 else None
    state = {"version": 1, "psid": psid, "layers": layers,
             "position": list(viewer.position), "window": list(viewer.window),
             "layout": viewer.view_layout, "slice_types": list(viewer.slice_types),
             "mosaic": viewer.mosaic, "active_viewport": viewer.active_viewport,
             "radiological": viewer.radiological}
    if skipped:
        state["skipped"] = skipped
    return state


def _inside(project: Any, rel: str) -> Path:
    root = Path(project.root).resolve()
    path = (root / rel).resolve()
    if root not in path.parents:
        raise UnsafePathError(f"shared layer {rel!r} is not a file of project {project.name!r}")
    return path


def restore_viewer(project: Any, state: dict[str, Any]) -> Any:
    """A new Viewer showing a state made by :func:`viewer_state`."""
    from nora_lab.widgets import Viewer

    viewer = Viewer(layout=state.get("layout") or "1")
    for layer in state.get("layers", []):
        role = layer.get("role")
        kw: dict[str, Any] = {"viewport": layer.get("viewports") or 0,
                              "visible": layer.get("visible", True)}
        if layer.get("opacity") is not None:
            kw["opacity"] = layer["opacity"]
        if role == "mask":
            kw.update(role="mask", color=layer.get("color"), outline=layer.get("outline", False))
        elif role in ("background", "overlay"):
            kw.update(role=role, colormap=layer.get("colormap") or None,
                      window=tuple(layer["window"]) if layer.get("window") else None)
        elif layer.get("color") is not None:
            kw["color"] = layer["color"]
        viewer.open(_inside(project, layer["path"]), **kw)
    for key in ("slice_types", "mosaic", "radiological", "active_viewport"):
        if state.get(key) is not None:
            setattr(viewer, key, state[key])
    if state.get("position") and state.get("layers"):
        viewer.position = tuple(state["position"])
    if state.get("window") and state.get("layers"):
        viewer.window = tuple(state["window"])
    return viewer


def open_study(project: Any, psid: str, preset: str | None = None) -> Any:
    """A Viewer showing a study: through the autoloader ``preset`` when one handles it,
    else the study's first image."""
    from nora_lab.widgets import Viewer

    viewer = Viewer()
    if preset:
        for loader in [*preset_loaders, _saved_autoloader]:
            if loader(viewer, project, psid, preset):
                return viewer
        warnings.warn(f"preset {preset!r}: no autoloader handled it (none registered in "
                      "nora_lab.server.links.preset_loaders); showing the study's first image",
                      stacklevel=2)
    files = project.files(psid=psid)
    images = [p for p in files["path"] if str(p).lower().endswith(_IMAGE_SUFFIXES)]
    if images:
        viewer.open(images[0])
    return viewer


def _saved_autoloader(viewer: Any, project: Any, psid: str, preset: str) -> bool:
    """The project's saved autoloader recipe named ``preset``, when the widgets have them."""
    try:
        from nora_lab.widgets.autoloader import Autoloader
    except ImportError:
        return False
    try:
        recipe = Autoloader.load(project, preset)
    except NotFoundError:
        return False
    recipe.apply(project, psid, viewer)
    return True


def open_link(project: Any, state: dict[str, Any] | None = None, *,
              share: str | None = None) -> Any:
    """Open what a link names: a shared state (``share=`` its id) or a URL call's study."""
    if share is not None:
        state = project.get_json("share", share)
    if not state:
        raise LinkError("open_link needs a state or share=<id>")
    if state.get("layers"):
        return restore_viewer(project, state)
    return open_study(project, state["psid"], preset=state.get("preset"))


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


def share(viewer: Any, project: Any, *, name: str | None = None,
          base: str | None = None) -> str:
    """Save what ``viewer`` shows (or a state dict) as a shared link; returns the link.

    Examples
    --------
    >>> share(viewer, project)      # doctest: +SKIP
    '/hub/user-redirect/nora/open?project=demo&share=J3x…'
    """
    state = viewer if isinstance(viewer, dict) else viewer_state(viewer, project)
    return link_url(project.name, share=save_share(project, state, name), base=base)


# --- the notebook a link opens -----------------------------------------------------------------


def link_notebook(project: str, *, share: str | None = None,
                  state: dict[str, Any] | None = None, url: str = "") -> dict[str, Any]:
    """A notebook (nbformat 4 JSON) that opens a shared link or a URL call's state."""
    import nbformat.v4 as nbf

    args = f"share={share!r}" if share is not None else repr(state)
    what = f"shared link `{share}`" if share is not None else f"study `{state['psid']}`"
    if state and state.get("preset"):
        what += f" with preset `{state['preset']}`"
    code = ("from nora_lab.archive import Archive\n"
            "from nora_lab.server import open_link\n\n"
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

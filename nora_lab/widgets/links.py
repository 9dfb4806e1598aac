"""Links in the kernel: a viewer's shareable state, and the viewer a link opens.

The server's side (parsing URL calls, saving shares, the notebook a link writes) is
:mod:`nora_lab.server.links`; the notebook it writes calls :func:`open_link` here.

>>> link = share(viewer, project)                   # doctest: +SKIP
>>> viewer = open_link(project, share="Xy3…")        # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nora_lab.errors import LinkError, NotFoundError, UnsafePathError
from nora_lab.server.links import link_url, save_share

__all__ = ["preset_loaders", "viewer_state", "restore_viewer", "open_study", "open_link",
           "share"]

#: ``loader(viewer, project, psid, preset) -> bool``: show ``psid`` in ``viewer`` as
#: ``preset`` says and return True, or return False for a preset it does not know. Tried
#: in order, before the project's saved autoloader recipe of that name.
preset_loaders: list[Callable[[Any, Any, str, str], bool]] = []

_IMAGE_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh", ".nrrd", ".nhdr", ".hdr")


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
    from nora_lab.widgets.viewer import Viewer

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
    from nora_lab.widgets.viewer import Viewer

    viewer = Viewer()
    if preset:
        for loader in [*preset_loaders, _saved_autoloader]:
            if loader(viewer, project, psid, preset):
                return viewer
        warnings.warn(f"preset {preset!r}: no autoloader handled it (none registered in "
                      "nora_lab.widgets.links.preset_loaders); showing the study's first image",
                      stacklevel=2)
    files = project.files(psid=psid)
    images = [p for p in files["path"] if str(p).lower().endswith(_IMAGE_SUFFIXES)]
    if images:
        viewer.open(images[0])
    return viewer


def _saved_autoloader(viewer: Any, project: Any, psid: str, preset: str) -> bool:
    """The project's saved autoloader recipe named ``preset``."""
    from nora_lab.widgets.autoloader import Autoloader

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

"""The marker tool: NORA's point sets, added by clicking in the viewer.

A point set (:class:`nora_lab.imaging.PointSet`) is a named list of named world
points. With "add by clicking" on, every left click in the viewer (outside ROI
edit mode; shift-click is Niivue's measurement and is ignored) appends a point at
the clicked world position to the current set. Points and sets are renamed in
place; :meth:`MarkerTool.save` stores the set in the study's annotations
(``annotations/<name>.ano.json``, NORA's layout) through
:meth:`Project.add_json <nora_lab.archive.project.Project.add_json>`.

The points are shown in the viewer as small balls of one mask layer
(``"markers"``, on the background's grid), updated by bounding-box diffs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import numpy as np
from ipywidgets import CallbackDispatcher

from nora_lab import imaging as im
from nora_lab.errors import ArchiveError, ImagingError, NoraError

from ._events import ClickEvent
from ._guard import guarded

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.project import Project

    from .viewer import Viewer

__all__ = ["MarkerTool"]

LAYER_NAME = "markers"


class MarkerTool(W.VBox):
    """NORA's marker tool over a viewer.

    Parameters
    ----------
    viewer : Viewer
        Reports clicks; shows the points.
    project, psid : optional
        Where :meth:`save` writes the point sets.
    radius_mm : float
        Radius of the balls that show the points.

    Examples
    --------
    >>> tool = MarkerTool(viewer, proj, "P001#S1")       # doctest: +SKIP
    >>> tool.new("landmarks"); tool.adding = True        # doctest: +SKIP
    >>> tool.add_point((10.0, -4.0, 22.0), "AC")          # doctest: +SKIP
    >>> tool.save()                                       # doctest: +SKIP
    """

    def __init__(self, viewer: Viewer, project: Project | None = None, psid: str | None = None,
                 *, radius_mm: float = 2.0, **kwargs: Any):
        self.viewer = viewer
        self.project = project
        self.psid = psid
        self._save_handlers = CallbackDispatcher()
        self.radius_mm = float(radius_mm)
        self._sets: dict[str, im.PointSet] = {}
        self._current = ""
        # shape, affine, bg id
        self._grid: tuple[tuple[int, int, int], np.ndarray, str] | None = None
        self._count: np.ndarray | None = None
        self._layer = ""

        self.set_picker = W.Dropdown(options=[], description="Point set",
                                     layout=W.Layout(width="260px"))
        self.set_picker.observe(self._picked, "value")
        self.set_name = W.Text(placeholder="name", layout=W.Layout(width="150px"))
        self.new_button = W.Button(description="New set", icon="plus",
                                   layout=W.Layout(width="90px"))
        self.rename_button = W.Button(description="Rename", layout=W.Layout(width="80px"))
        self.save_button = W.Button(description="Save", icon="save", layout=W.Layout(width="80px"))
        self.adding_toggle = W.ToggleButton(value=False, description="✎ add by clicking",
                                            tooltip="left clicks in the viewer add points",
                                            layout=W.Layout(width="150px"))
        self.adding_toggle.add_class("nora-marker-adding")
        self.new_button.on_click(
            lambda _: self._guard(lambda: self.new(self.set_name.value or None)))
        self.rename_button.on_click(lambda _: self._guard(lambda: self.rename(self.set_name.value)))
        self.save_button.on_click(lambda _: self._guard(self.save))
        self.points_box = W.VBox(layout=W.Layout(max_height="200px", overflow="auto"))
        self.points_box.add_class("nora-marker-points")
        self.status = W.HTML()
        self.status.add_class("nora-marker-status")
        super().__init__(children=[
            W.HTML("<b>Marker tool</b>"),
            W.HBox([self.set_picker, self.adding_toggle]),
            W.HBox([self.set_name, self.new_button, self.rename_button, self.save_button]),
            self.points_box, self.status,
        ], **kwargs)
        self.add_class("nora-marker-tool")
        viewer.on_click(self._on_click)
        self._update()

    # ------------------------------------------------------------ state

    @property
    def adding(self) -> bool:
        """Whether left clicks in the viewer add points to the current set."""
        return bool(self.adding_toggle.value)

    @adding.setter
    def adding(self, value: bool) -> None:
        self.adding_toggle.value = bool(value)

    @property
    def sets(self) -> list[im.PointSet]:
        return list(self._sets.values())

    @property
    def current(self) -> im.PointSet | None:
        return self._sets.get(self._current)

    def pointset(self, name: str | None = None) -> im.PointSet:
        key = name or self._current
        if key not in self._sets:
            if not self._sets:
                raise ImagingError(
                    "the marker tool has no point set: make one with tool.new('name')")
            raise ImagingError(f"no point set named {key!r}; the tool has {list(self._sets)}")
        return self._sets[key]

    # ------------------------------------------------------------ sets

    def new(self, name: str | None = None) -> im.PointSet:
        """A new, empty point set; it becomes current."""
        return self.add_set(im.PointSet(self._unique(name or "pointset")))

    def add_set(self, ps: im.PointSet) -> im.PointSet:
        """Put a point set into the tool (renamed if the name is taken); it becomes current."""
        if ps.name in self._sets:
            ps.name = self._unique(ps.name)
        self._sets[ps.name] = ps
        self._mark([p.coords for p in ps.points], +1)
        self._current = ps.name
        self._update()
        return ps

    def select(self, name: str) -> None:
        """Make a point set current."""
        self.pointset(name)
        self._current = name
        self._update()

    def rename(self, new_name: str, name: str | None = None) -> None:
        """Rename a point set (its file will be ``annotations/<new name>.ano.json``)."""
        ps = self.pointset(name)
        new_name = new_name.strip().replace("/", "_")
        if not new_name:
            raise ImagingError("a point set needs a non-empty name")
        if new_name != ps.name and new_name in self._sets:
            raise ImagingError(f"there is a point set named {new_name!r} already")
        old = ps.name
        self._sets = {(new_name if k == old else k): v for k, v in self._sets.items()}
        ps.name = new_name
        if self._current == old:
            self._current = new_name
        self._update(f"renamed {old!r} to {new_name!r}")

    def delete(self, name: str | None = None) -> None:
        """Remove a point set from the tool (a saved file stays)."""
        ps = self.pointset(name)
        del self._sets[ps.name]
        self._mark([p.coords for p in ps.points], -1)
        if self._current == ps.name:
            self._current = next(iter(self._sets), "")
        self._update()

    # ------------------------------------------------------------ points

    def add_point(self, world: Any, name: str | None = None) -> im.Point:
        """Append a point (world mm) to the current set (a set is made if there is none)."""
        ps = self.current if self.current is not None else self.new()
        p = ps.add([float(v) for v in np.asarray(world, dtype=float)], name)
        self._mark([p.coords], +1)
        self._update(f"added {p.name} at ({', '.join(f'{v:.1f}' for v in p.coords)})")
        return p

    def rename_point(self, key: int | str, name: str) -> None:
        """Rename a point of the current set (by index or name)."""
        if not name.strip():
            raise ImagingError("a point needs a non-empty name")
        self.pointset().rename(key, name.strip())
        self._update()

    def remove_point(self, key: int | str) -> im.Point:
        """Remove a point of the current set (by index or name)."""
        p = self.pointset().remove(key)
        self._mark([p.coords], -1)
        self._update(f"removed {p.name}")
        return p

    def goto(self, key: int | str) -> tuple[float, float, float]:
        """Move the crosshair to a point of the current set."""
        ps = self.pointset()
        try:
            p = ps.points[key] if isinstance(key, int) else ps.points[ps.names.index(key)]
        except (IndexError, ValueError):
            raise ImagingError(
                f"point set {ps.name!r} has no point {key!r}; it has {ps.names}") from None
        self.viewer.position = tuple(float(v) for v in p.coords)
        return self.viewer.position

    # ------------------------------------------------------------ archive

    def save(self, name: str | None = None) -> Path:
        """Save a point set into the study's annotations (``annotations/<name>.ano.json``)."""
        ps = self.pointset(name)
        if self.project is None or not self.psid:
            raise ArchiveError(f"point set {ps.name!r} cannot be saved: the marker tool has no "
                            "project/study (MarkerTool(viewer, project, psid), or use the desk)")
        path = self.project.add_json(ps.to_file_dict(), self.psid, ps.relpath)
        self._update(f"saved {ps.name!r} as {self.psid}/{ps.relpath}")
        self._save_handlers(self.psid, ps.relpath)
        return path

    def on_save(self, callback, remove: bool = False) -> None:
        """Call ``callback(psid, relpath)`` after a point set was saved into a study."""
        self._save_handlers.register_callback(callback, remove=remove)

    def load(self, path: str | Path) -> list[im.PointSet]:
        """Read an annotation file (NORA's ``*.ano.json``); its point sets join the tool."""
        path = Path(path)
        try:
            obj = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ImagingError(f"{path}: not a readable annotation file ({exc})") from None
        from nora_lab.imaging.markers import pointsets_from_dict

        sets = [self.add_set(ps) for ps in pointsets_from_dict(obj)]
        self._update(f"loaded {len(sets)} point set(s) from {path.name}")
        return sets

    def reset(self, psid: str | None = None) -> None:
        """Forget every point set (a new study)."""
        self._sets.clear()
        self._current = ""
        self._grid = None
        self._count = None
        if self._layer:
            try:
                self.viewer.close_layer(self._layer)
            except ImagingError:
                pass
        self._layer = ""
        self.psid = psid
        self._update()

    # ------------------------------------------------------------ display

    def _on_click(self, event: ClickEvent) -> None:
        if not self.adding or event.shift:
            return
        try:
            self.add_point(event.world)
        except NoraError as exc:
            self._update(f"⚠ {exc}")

    def _background_id(self) -> str | None:
        bg = next((s for s in reversed(self.viewer.layers) if s["role"] == "background"), None)
        return None if bg is None else bg["id"]

    def _rebuild(self, bg_id: str) -> None:
        """Draw every point of every set anew on the background's grid."""
        data = self.viewer.layer(bg_id).volume
        self._grid = (data.shape, data.affine, bg_id)
        self._count = np.zeros(data.shape, np.uint16)
        for ps in self._sets.values():
            for p in ps.points:
                self._add_ball(p.coords, +1)
        self._show_all()

    def _layer_alive(self) -> bool:
        return bool(self._layer) and any(s["id"] == self._layer for s in self.viewer.layers)

    def _show_all(self) -> None:
        keep = self.viewer.draw_target
        assert self._grid is not None and self._count is not None
        layer = self.viewer.set_mask(self._count > 0, self._grid[1], name=LAYER_NAME,
                                     color="yellow", opacity=1.0)
        self._layer = layer.id
        self.viewer.draw_target = keep  # the markers are shown, never drawn into

    def _add_ball(self, xyz: np.ndarray, sign: int) -> tuple[slice, slice, slice] | None:
        assert self._grid is not None and self._count is not None
        shape, affine = self._grid[0], self._grid[1]
        vs = np.linalg.norm(affine[:3, :3], axis=0)
        c = np.linalg.solve(affine, np.r_[xyz, 1.0])[:3]
        reach = np.ceil(self.radius_mm / vs)
        lo = np.maximum(np.floor(c - reach), 0).astype(int)
        hi = np.minimum(np.ceil(c + reach) + 1, shape).astype(int)
        if np.any(hi <= lo):
            return None  # outside the grid
        idx = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)],
                                   indexing="ij"), -1).reshape(-1, 3)
        world = np.c_[idx, np.ones(len(idx))] @ affine.T
        ball = (np.linalg.norm(world[:, :3] - xyz,
                               axis=1) <= self.radius_mm).reshape(tuple(hi - lo))
        if not ball.any():  # smaller than a voxel: the nearest voxel
            near = np.clip(np.rint(c).astype(int) - lo, 0, hi - lo - 1)
            ball[tuple(near)] = True
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        cnt = self._count[box].astype(np.int32) + sign * ball
        self._count[box] = np.clip(cnt, 0, None).astype(np.uint16)
        return box  # type: ignore[return-value]

    def _mark(self, points: list[np.ndarray], sign: int) -> None:
        """Show points added (+1) or removed (-1) – called after the sets changed."""
        bg = self._background_id()
        if bg is None:
            return
        if self._grid is None or self._grid[2] != bg or not self._layer_alive():
            if any(ps.points for ps in self._sets.values()):
                self._rebuild(bg)  # draws the sets as they are now
            return
        for xyz in points:
            box = self._add_ball(np.asarray(xyz, float), sign)
            if box is not None and self._count is not None:
                self.viewer.update_mask(box, self._count[box] > 0, layer=self._layer)

    # ------------------------------------------------------------ the form

    def _picked(self, change: Any) -> None:
        if change.new and change.new != self._current and change.new in self._sets:
            self._current = change.new
            self._update()

    def _unique(self, name: str) -> str:
        name = name.strip().replace("/", "_") or "pointset"
        k, out = 2, name
        while out in self._sets:
            out, k = f"{name}-{k}", k + 1
        return out

    def _guard(self, fn: Callable[[], Any]) -> None:
        guarded(lambda text: self._update(f"⚠ {text}"), fn)

    def _update(self, note: str = "") -> None:
        self.set_picker.unobserve(self._picked, "value")
        self.set_picker.options = list(self._sets)
        self.set_picker.value = self._current or None
        self.set_picker.observe(self._picked, "value")
        rows = []
        ps = self.current
        for i, p in enumerate(ps.points if ps is not None else []):
            name = W.Text(value=p.name, continuous_update=False, layout=W.Layout(width="140px"))
            name.observe(lambda c, i=i: self._guard(lambda: self.rename_point(i, c.new)), "value")
            where = W.HTML(f"({', '.join(f'{v:.1f}' for v in p.coords)}) mm",
                           layout=W.Layout(width="190px"))
            go = W.Button(description="◎", tooltip="go to", layout=W.Layout(width="32px"))
            go.on_click(lambda _, i=i: self._guard(lambda: self.goto(i)))
            rm = W.Button(description="✕", tooltip="remove", layout=W.Layout(width="32px"))
            rm.on_click(lambda _, i=i: self._guard(lambda: self.remove_point(i)))
            rows.append(W.HBox([name, where, go, rm]))
        self.points_box.children = rows
        n = len(ps) if ps is not None else 0
        head = f"{html.escape(ps.name)}: {n} point(s)" if ps is not None else "no point set"
        tail = f" · {html.escape(note, quote=False)}" if note else ""
        self.status.value = f"<span class='nora-marker-state' data-points='{n}'>{head}{tail}</span>"

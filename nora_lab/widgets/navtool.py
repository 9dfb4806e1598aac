"""The navigation tool: NORA's manual alignment (rigid/affine and Gaussian warps).

The *moving* images (by default every overlay and mask of the viewer; the background
is the fixed image) are moved together by one world transform, the 4×4 :attr:`matrix`
(the moved image has the affine ``matrix @ affine``, see
:mod:`nora_lab.imaging.transforms`). In the viewer, with the tool active, ctrl + mouse
moves them live against the fixed image: ctrl + left drag translates in the slice's
plane, ctrl + right drag rotates about the crosshair around the slice's normal, ctrl +
shift + left drag scales about the crosshair. The page computes the matrix of a drag
and reports it; Python keeps it (:attr:`matrix`, undoable) and sends it back to every
view of the viewer.

Gaussian deformation markers (:class:`nora_lab.imaging.GaussianMarker`) add a warp
on top (:attr:`deformation`); :meth:`keypoints` turns two matching point sets into
markers, :meth:`dump` renders them into a field, :meth:`restore` reads one back.
With :attr:`~NavigationTool.warp_preview` on, the viewer shows the warp: each moving
image resampled through the matrix and the deformation onto the fixed grid (what APPLY
writes) replaces the moving layer, recomputed when a marker drag or a ctrl-drag ends and
after every change from Python (:mod:`nora_lab.widgets._warppreview`); during a
ctrl-drag the moving layers show again, moved live by the page.

:meth:`apply` (NORA's APPLY) resamples the moving images onto the fixed image's grid,
a world grid or a named layer's grid (:func:`nora_lab.imaging.apply_transform`), and
files them in the study with the transform beside them (one transaction through
:meth:`Project.add_files <nora_lab.archive.project.Project.add_files>`): all of them or
none.
"""

from __future__ import annotations

import gzip
import html
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import nibabel as nib
import numpy as np
import traitlets as t

from nora_lab import imaging as im
from nora_lab.errors import ArchiveError, ImagingError
from nora_lab.imaging.transforms import check_matrix

from ._guard import guarded
from ._roiedit import PreviewLayer
from ._warppreview import SUFFIX, WarpPreview

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.project import Project

    from .viewer import Viewer

__all__ = ["NavigationTool"]

#: the tag every file written by APPLY gets
TAG = "navigated"
#: the mask layer showing the deformation markers (a ball at each centre, a smaller one
#: where its displacement points)
MARKER_LAYER = "deformation markers"


def _name(layer_name: str) -> str:
    """A file stem from a layer's name (``t1.nii.gz`` → ``t1``)."""
    stem = re.sub(r"(\.nii(\.gz)?|\.mgz|\.mgh|\.nrrd|\.img|\.hdr)$", "", Path(layer_name).name)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "image"


def _ball(mask: np.ndarray, grid: im.Grid, centre: np.ndarray, radius: float) -> None:
    """Turn on the voxels of ``mask`` within ``radius`` mm of ``centre``."""
    c = grid.world_to_voxel(np.asarray(centre, dtype=float)[None])[0]
    reach = np.ceil(radius / grid.voxel_sizes)
    lo = np.maximum(np.floor(c - reach), 0).astype(int)
    hi = np.minimum(np.ceil(c + reach) + 1, grid.shape).astype(int)
    if np.any(hi <= lo):
        return
    idx = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)],
                               indexing="ij"), -1).reshape(-1, 3)
    near = np.linalg.norm(grid.voxel_to_world(idx) - centre, axis=1) <= radius
    mask[tuple(idx[near].T)] = True


def _nifti_bytes(img: nib.Nifti1Image) -> bytes:
    """The image as ``.nii.gz`` bytes, the same bytes for the same image (re-runs are
    no-ops)."""
    return gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)


class NavigationTool(W.VBox):
    """NORA's navigation tool over a viewer.

    Parameters
    ----------
    viewer : Viewer
        Shows the fixed (background) and moving images; reports ctrl + mouse drags.
    project, psid : optional
        Where :meth:`apply` files its results.

    Attributes
    ----------
    active : bool
        Whether ctrl + mouse in the viewer moves the images (a traitlet).
    matrix : (4, 4) ndarray
        The world transform of the moving images; settable.
    deformation : Deformation
        The Gaussian markers (and a dumped field) applied after the matrix.
    warp_preview : bool
        Whether the viewer shows the moving images warped by the deformation (a
        traitlet; only while there are markers or a field).

    Examples
    --------
    >>> nav = NavigationTool(viewer, proj, "P001#S1")        # doctest: +SKIP
    >>> nav.translate((0, 4, 0)); nav.rotate((0, 0, 10))     # doctest: +SKIP
    >>> nav.apply(grid="fixed")                               # doctest: +SKIP
    """

    active = t.Bool(False)
    placing = t.Bool(False)
    marker_size = t.Float(10.0)
    warp_preview = t.Bool(False)

    def __init__(self, viewer: Viewer, project: Project | None = None, psid: str | None = None,
                 **kwargs: Any):
        self.viewer = viewer
        self.project = project
        self.psid = psid
        self.deformation = im.Deformation()
        self._matrix = np.eye(4)
        self._undo: list[np.ndarray] = []
        self._redo: list[np.ndarray] = []
        self._moving: list[str] | None = None  # layer ids; None: every overlay and mask
        self._drag_start: np.ndarray | None = None
        self._marker_layer = PreviewLayer(viewer, color="magenta", name=MARKER_LAYER)
        self._shown_markers: list[Any] = []
        self._warp = WarpPreview(viewer)
        self._warp_key: Any = None
        self._warping = False        # the preview is changing the viewer's layers
        self._marker_live = False    # a marker is being dragged in the page

        self.active_toggle = W.ToggleButton(description="✥ ctrl+mouse moves",
                                            tooltip="ctrl+left: translate, ctrl+right: rotate, "
                                                    "ctrl+shift+left: scale",
                                            layout=W.Layout(width="170px"))
        self.active_toggle.add_class("nora-nav-active")
        W.link((self, "active"), (self.active_toggle, "value"))
        self.placing_toggle = W.ToggleButton(description="✚ markers",
                                             tooltip="ctrl+left: a press places a Gaussian "
                                                     "marker (or grabs one), the drag sets its "
                                                     "displacement", layout=W.Layout(width="110px"))
        self.placing_toggle.add_class("nora-nav-placing")
        W.link((self, "placing"), (self.placing_toggle, "value"))
        self.size_box = W.BoundedFloatText(value=10.0, min=0.5, max=200.0, step=1.0,
                                           description="size mm", layout=W.Layout(width="160px"))
        W.link((self, "marker_size"), (self.size_box, "value"))
        self.warp_toggle = W.ToggleButton(description="warped preview",
                                          tooltip="show the moving images warped by the "
                                                  "markers (what APPLY writes)",
                                          layout=W.Layout(width="130px"))
        self.warp_toggle.add_class("nora-nav-warp")
        W.link((self, "warp_preview"), (self.warp_toggle, "value"))
        self.grid_picker = W.Dropdown(options=[("fixed image", "fixed"), ("world", "world")],
                                      value="fixed", description="Grid",
                                      layout=W.Layout(width="220px"))
        self.voxel_size = W.BoundedFloatText(value=1.0, min=0.1, max=10.0, step=0.5,
                                             description="voxel mm",
                                             layout=W.Layout(width="160px"))
        self.apply_button = W.Button(description="APPLY", icon="check",
                                     layout=W.Layout(width="90px"))
        self.apply_button.add_class("nora-nav-apply")
        self.apply_button.on_click(lambda _: self._guard(
            lambda: self.apply(grid=self.grid_picker.value, voxel_size=self.voxel_size.value,
                               overwrite=True)))  # the button replaces its earlier results
        self.reset_button = W.Button(description="Reset", layout=W.Layout(width="70px"))
        self.reset_button.on_click(lambda _: self._guard(self.reset))
        self.undo_button = W.Button(description="↶", tooltip="undo", layout=W.Layout(width="36px"))
        self.undo_button.on_click(lambda _: self._guard(self.undo))
        self.redo_button = W.Button(description="↷", tooltip="redo", layout=W.Layout(width="36px"))
        self.redo_button.on_click(lambda _: self._guard(self.redo))
        self.moving_box = W.HTML()
        self.moving_box.add_class("nora-nav-moving")
        self.moving_picker = W.SelectMultiple(description="moving", rows=3,
                                              layout=W.Layout(width="320px"))
        self.moving_picker.add_class("nora-nav-picker")
        self.moving_picker.observe(self._picked, "value")
        self.status = W.HTML()
        self.status.add_class("nora-nav-status")
        super().__init__(children=[
            W.HTML("<b>Navigation tool</b>"),
            W.HBox([self.active_toggle, self.undo_button, self.redo_button, self.reset_button]),
            W.HBox([self.placing_toggle, self.size_box, self.warp_toggle]),
            W.HBox([self.grid_picker, self.voxel_size, self.apply_button]),
            self.moving_box, self.moving_picker, self.status,
        ], **kwargs)
        self.add_class("nora-nav-tool")
        viewer.on_msg(self._on_msg)
        viewer.observe(self._layers_changed, "layers")
        self._update()

    # ------------------------------------------------------------ the moving images

    @property
    def moving(self) -> list[str]:
        """Names of the moving layers (default: every overlay and mask)."""
        return [s["name"] for s in self._moving_specs()]

    @moving.setter
    def moving(self, layers: Iterable[str]) -> None:
        self._moving = [self.viewer.layer(x).id for x in layers]
        self._tell_page()
        self._update()

    def _moving_specs(self) -> list[dict]:
        vols = [s for s in self.viewer.layers if s["kind"] == "volume"]
        if self._moving is None:
            return [s for s in vols if s["role"] != "background" and s["name"] != MARKER_LAYER
                    and not s["name"].endswith(SUFFIX)]
        return [s for s in vols if s["id"] in self._moving]

    def _fixed_spec(self) -> dict | None:
        moving = {s["id"] for s in self._moving_specs()}
        return next((s for s in reversed(self.viewer.layers)
                     if s["role"] == "background" and s["id"] not in moving), None)

    # ------------------------------------------------------------ the matrix

    @property
    def matrix(self) -> np.ndarray:
        """The world transform (4×4) moving the moving images (a copy)."""
        return self._matrix.copy()

    @matrix.setter
    def matrix(self, value: Any) -> None:
        self._set_matrix(check_matrix(value, "navigation matrix"))

    def _set_matrix(self, m: np.ndarray, *, record: bool = True, send: bool = True) -> None:
        if record and not np.allclose(m, self._matrix):
            self._undo.append(self._matrix)
            self._redo.clear()
        self._matrix = np.array(m, dtype=float)
        if send:
            self._tell_page()
        self._update()

    def translate(self, offset: Sequence[float]) -> np.ndarray:
        """Move the moving images by ``offset`` mm (x, y, z); returns the new matrix."""
        self.matrix = im.compose(self._matrix, im.translation(offset))
        return self.matrix

    def rotate(self, angles_deg: Sequence[float],
               centre: Sequence[float] | None = None) -> np.ndarray:
        """Rotate about x, y, z (degrees) around ``centre`` (default: the crosshair)."""
        c = self.viewer.position if centre is None else centre
        self.matrix = im.compose(self._matrix, im.rotation(angles_deg, c))
        return self.matrix

    def scale(self, factors: float | Sequence[float],
              centre: Sequence[float] | None = None) -> np.ndarray:
        """Scale by ``factors`` around ``centre`` (default: the crosshair)."""
        c = self.viewer.position if centre is None else centre
        self.matrix = im.compose(self._matrix, im.scaling(factors, c))
        return self.matrix

    def reset(self) -> None:
        """Back to the identity and no deformation (undoable for the matrix)."""
        self.deformation = im.Deformation()
        self._set_matrix(np.eye(4))

    def undo(self) -> np.ndarray | None:
        """Undo the last change of the matrix (a drag counts as one)."""
        return self._step(self._undo, self._redo)

    def redo(self) -> np.ndarray | None:
        """Redo what :meth:`undo` undid."""
        return self._step(self._redo, self._undo)

    def _step(self, take: list[np.ndarray], put: list[np.ndarray]) -> np.ndarray | None:
        if not take:
            self._update("nothing to undo" if take is self._undo else "nothing to redo")
            return None
        put.append(self._matrix)
        self._set_matrix(take.pop(), record=False)
        return self.matrix

    # ------------------------------------------------------------ deformation

    @property
    def markers(self) -> list[im.GaussianMarker]:
        """The Gaussian displacement markers (a copy of the list)."""
        return list(self.deformation.markers)

    @markers.setter
    def markers(self, markers: Iterable[Any]) -> None:
        out = []
        for m in markers:
            if isinstance(m, im.GaussianMarker):
                out.append(m)
            elif isinstance(m, dict):
                out.append(im.GaussianMarker(np.asarray(m.get("centre")),
                                             np.asarray(m.get("vector")), float(m.get("size", 0))))
            else:
                raise ImagingError(
                    f"a marker is a GaussianMarker or {{'centre', 'vector', 'size'}}, got {m!r}")
        self.deformation.markers = out
        self._update()

    def add_marker(self, centre: Sequence[float], vector: Sequence[float] = (0.0, 0.0, 0.0),
                   size: float = 10.0) -> im.GaussianMarker:
        """A Gaussian displacement: content near ``centre`` moves by about ``vector`` mm."""
        m = self.deformation.add(centre, vector, size)
        self._update(f"marker {len(self.deformation.markers)} at "
                     f"({', '.join(f'{v:.1f}' for v in m.centre)})")
        return m

    def move_marker(self, index: int, vector: Sequence[float] | None = None, *,
                    centre: Sequence[float] | None = None,
                    size: float | None = None) -> im.GaussianMarker:
        """Change a marker's displacement, position or size (dragging it in the viewer)."""
        old = self._marker(index)
        new = im.GaussianMarker(np.asarray(old.centre if centre is None else centre),
                                np.asarray(old.vector if vector is None else vector),
                                float(old.size if size is None else size))
        self.deformation.markers[index] = new
        self._update()
        return new

    def remove_marker(self, index: int) -> im.GaussianMarker:
        """Remove a marker."""
        self._marker(index)
        m = self.deformation.markers.pop(index)
        self._update()
        return m

    def _marker(self, index: int) -> im.GaussianMarker:
        ms = self.deformation.markers
        if not -len(ms) <= index < len(ms):
            raise ImagingError(f"no marker {index}: the deformation has {len(ms)} marker(s)")
        return ms[index]

    def keypoints(self, source: Any, target: Any, size: float = 20.0) -> list[im.GaussianMarker]:
        """Markers carrying each ``source`` point onto its ``target`` point (NORA's "pair of
        sets"); they replace the current markers."""
        d = im.Deformation.from_keypoints(source, target, size)
        self.deformation.markers = d.markers
        self._update(f"{len(d.markers)} keypoint pair(s)")
        return self.markers

    def dump(self, grid: Any = "fixed", voxel_size: float = 2.0) -> im.Deformation:
        """Render the markers into a displacement field on ``grid`` (see :meth:`apply`) and
        delete them; new markers add on top."""
        self.deformation.dump(self._grid(grid, voxel_size))
        self._update("markers dumped into a displacement field")
        return self.deformation

    def restore(self, field: str | Path | Any) -> im.Deformation:
        """Read a dumped field (a file written by :meth:`apply`, or an image)."""
        if isinstance(field, str | Path):
            try:
                field = nib.load(str(field))
            except Exception as exc:  # nibabel raises several types for bad files
                raise ImagingError(f"{field}: not a readable displacement field ({exc})") from None
        d = im.Deformation.from_nifti(field)
        self.deformation.field_data, self.deformation.field_grid = d.field_data, d.field_grid
        self._update("displacement field restored")
        return self.deformation

    # ------------------------------------------------------------ state

    @property
    def state(self) -> dict[str, Any]:
        """The transform as JSON: ``{"matrix", "markers", "moving", "field"}`` (what
        :meth:`apply` saves beside the images)."""
        return {
            "matrix": self._matrix.tolist(),
            "markers": [{"centre": m.centre.tolist(), "vector": m.vector.tolist(),
                         "size": m.size} for m in self.deformation.markers],
            "moving": self.moving,
            "field": self.deformation.field_data is not None,
        }

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        if not isinstance(value, dict) or "matrix" not in value:
            raise ImagingError(f"a navigation state is a dict with a 'matrix', got {value!r}")
        self.markers = value.get("markers", [])
        if "moving" in value:
            self.moving = value["moving"]
        self.matrix = value["matrix"]

    def load(self, path: str | Path) -> dict[str, Any]:
        """Read a transform file written by :meth:`apply` and make it the tool's state."""
        path = Path(path)
        try:
            obj = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ImagingError(f"{path}: not a readable transform file ({exc})") from None
        obj.pop("moving", None)  # the layers of that session need not be open now
        self.state = obj
        return self.state

    # ------------------------------------------------------------ APPLY

    def _grid(self, grid: Any, voxel_size: float, specs: list[dict] | None = None) -> im.Grid:
        specs = self._moving_specs() if specs is None else specs
        if isinstance(grid, im.Grid):
            return grid
        if grid == "world":
            vols = [self._image(s["id"]) for s in specs]
            return im.world_grid(vols, voxel_size, [self._matrix] * len(vols))
        if grid == "fixed":
            fixed = self._fixed_spec()
            if fixed is None:
                raise ImagingError("grid='fixed' needs a background image that is not moving; "
                                   "open one, or use grid='world'")
            return im.Grid.from_image(self._image(fixed["id"]))
        return im.Grid.from_image(self._image(grid))

    def _image(self, layer: str) -> nib.Nifti1Image:
        vol = self.viewer.layer(layer).volume
        data = vol.data
        if vol.slope != 1.0 or vol.inter != 0.0:
            data = data * vol.slope + vol.inter
        return nib.Nifti1Image(np.asarray(data), vol.affine)

    def resampled(self, grid: Any = "fixed", voxel_size: float = 1.0) -> dict[str, Any]:
        """The moving images moved, warped and resampled onto ``grid``.

        Parameters
        ----------
        grid : {"fixed", "world"}, layer name or Grid
            "fixed": the background's matrix; "world": the box around the moved images at
            ``voxel_size`` mm; a layer name: that layer's matrix.

        Returns
        -------
        dict
            Layer name → nibabel image (masks nearest-neighbour, images trilinear).
        """
        specs = self._moving_specs()
        if not specs:
            raise ImagingError("no moving image: open an overlay, or set tool.moving = [names]")
        target = self._grid(grid, voxel_size, specs)
        out = {}
        for s in specs:
            order = 0 if s["role"] == "mask" else 1
            out[s["name"]] = im.apply_transform(self._image(s["id"]), self._matrix,
                                                self.deformation, grid=target, order=order)[0]
        return out

    def apply(self, grid: Any = "fixed", voxel_size: float = 1.0, *, psid: str | None = None,
              suffix: str = "_nav", folder: str = "nav", tags: Iterable[str] = (TAG,),
              overwrite: bool = False) -> list[Path]:
        """NORA's APPLY: resample the moving images and file them in the study.

        Each moving layer ``<name>`` becomes ``<folder>/<name><suffix>.nii.gz`` (tagged
        ``tags``, masks also ``roi``); the transform goes beside them as
        ``<folder>/transform<suffix>.json`` (:attr:`state`) and, with a deformation,
        ``<folder>/deformation<suffix>.nii.gz`` (its field, dumped on ``grid``). Everything is
        added in one transaction: all files or none.

        Returns
        -------
        list of Path
            The files in the archive, images first.

        Raises
        ------
        ArchiveError
            No project/study, or a file of that name with other content and
            ``overwrite=False`` (nothing is written then).
        ImagingError
            No moving image, no fixed image for ``grid="fixed"``.
        """
        from nora_lab.archive import NewFile

        psid = psid or self.psid
        if self.project is None or not psid:
            raise ArchiveError("APPLY needs a project and a study: NavigationTool(viewer, "
                               "project, psid), or use the desk")
        images = self.resampled(grid, voxel_size)
        roles = {s["name"]: s["role"] for s in self._moving_specs()}
        tags = list(tags)
        files = [NewFile(f"{folder}/{_name(name)}{suffix}.nii.gz", data=_nifti_bytes(img),
                         tags=[*tags, "roi"] if roles[name] == "mask" else tags)
                 for name, img in images.items()]
        state = {**self.state, "grid": grid if isinstance(grid, str) else "custom",
                 "voxel_size": float(voxel_size)}
        if not self.deformation.is_identity:
            d = im.Deformation(list(self.deformation.markers), self.deformation.field_data,
                               self.deformation.field_grid).dump(self._grid(grid, voxel_size))
            files.append(NewFile(f"{folder}/deformation{suffix}.nii.gz",
                                 data=_nifti_bytes(d.to_nifti()), tags=tags))
        files.append(NewFile(f"{folder}/transform{suffix}.json", tags=tags,
                             data=json.dumps(state, indent=1, sort_keys=True).encode()))
        paths = self.project.add_files(psid, files, overwrite=overwrite)
        self._update(f"APPLY: {len(images)} image(s) written to {psid}/{folder}/")
        return paths

    # ------------------------------------------------------------ the page

    def _show_markers_if_changed(self) -> None:
        key = [(m.centre.tolist(), m.vector.tolist(), m.size) for m in self.deformation.markers]
        if key != self._shown_markers:
            self._shown_markers = key
            self._show_markers()
            self._tell_page()

    def _tell_page(self) -> None:
        """Tell the page the matrix, which layers it moves and the markers."""
        if getattr(self.viewer, "_frontend_ready", False):
            self.viewer.send({"type": "nav", "active": bool(self.active),
                              "placing": bool(self.placing),
                              "layers": [s["id"] for s in self._moving_specs()],
                              "matrix": self._matrix.ravel().tolist(),
                              "markers": [[*m.centre.tolist(), *m.vector.tolist(), m.size]
                                          for m in self.deformation.markers]})

    @t.observe("placing")
    def _placing_changed(self, _change: t.Bunch) -> None:
        self._tell_page()

    @t.observe("warp_preview")
    def _warp_toggled(self, _change: t.Bunch) -> None:
        self._guard(self._update)

    def _refresh_warp(self) -> None:
        """Show the warped preview as the state now is, or remove it (see the module)."""
        if self._warping:
            return
        specs = self._moving_specs()
        wanted = (self.warp_preview and not self.deformation.is_identity and bool(specs)
                  and self._fixed_spec() is not None and self._drag_start is None)
        self._warping = True
        try:
            if not wanted:
                self._warp_key = None
                if not self._warp.clear():
                    return
            elif self._marker_live:
                return  # the balls follow the drag; the warp is computed when it ends
            else:
                d = self.deformation
                key = (self._matrix.tobytes(), [(m.centre.tolist(), m.vector.tolist(), m.size)
                                                for m in d.markers],
                       id(d.field_data), [s["id"] for s in specs])
                if key == self._warp_key and self._warp.shown:
                    return
                self._warp_key = key
                self._warp.show(self.resampled("fixed"), specs)
        finally:
            self._warping = False
        self._tell_page()  # the moving layers shown again need the matrix

    @t.observe("active")
    def _active_changed(self, _change: t.Bunch) -> None:
        self._tell_page()
        self._update()

    def _layers_changed(self, _change: t.Bunch) -> None:
        if self._warping:
            return
        self._tell_page()
        self._update()

    def _on_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind in ("ready", "tools_ready"):  # a page (re)loaded, a view rendered
            self._tell_page()
        elif kind == "nav_drag" and self.active:
            self._guard(lambda: self._dragged(content))
        elif kind == "nav_marker" and self.active and self.placing:
            self._guard(lambda: self._marker_dragged(content))

    def _marker_dragged(self, msg: dict) -> None:
        self._marker_live = str(msg.get("phase", "move")) != "end"
        index = int(msg.get("index", -1))
        vector = [float(v) for v in msg.get("vector") or (0.0, 0.0, 0.0)]
        if index < 0 or index >= len(self.deformation.markers):
            centre = [float(v) for v in msg.get("centre") or ()]
            self.add_marker(centre, vector, self.marker_size)
        else:
            self.move_marker(index, vector)

    def _dragged(self, msg: dict) -> None:
        m = check_matrix(np.asarray(msg.get("matrix"), float).reshape(4, 4),
                                       "the dragged matrix")
        phase = str(msg.get("phase", "move"))
        if phase == "down":
            self._drag_start = self._matrix
            self._refresh_warp()  # the moving layers show again, moved live by the page
        elif phase == "end":
            if self._drag_start is not None:
                self._matrix = self._drag_start  # one undo step for the whole drag
            self._drag_start = None
            self._set_matrix(m, send=False)
        else:
            self._set_matrix(m, record=False, send=False)

    # ------------------------------------------------------------ the form

    def _picked(self, change: t.Bunch) -> None:
        ids = [s["id"] for s in self.viewer.layers if s["name"] in change.new]
        if ids != [s["id"] for s in self._moving_specs()]:
            self._guard(lambda: setattr(self, "moving", list(change.new)))

    def _guard(self, fn: Callable[[], Any]) -> None:
        guarded(lambda text: self._update(f"⚠ {text}"), fn)

    def _show_markers(self) -> None:
        """The markers as balls on the fixed image's grid (centre: the marker's size / 4,
        tip of its displacement: half that)."""
        fixed = self._fixed_spec()
        if fixed is None:
            return
        vol = self.viewer.layer(fixed["id"]).volume
        grid = im.Grid(vol.shape, vol.affine)
        mask = np.zeros(grid.shape, dtype=bool)
        for m in self.deformation.markers:
            for at, r in ((m.centre, m.size / 4), (m.centre + m.vector, m.size / 8)):
                _ball(mask, grid, at, max(r, float(grid.voxel_sizes.min())))
        self._marker_layer.show(mask, grid.affine)

    def _update(self, note: str = "") -> None:
        self._show_markers_if_changed()
        self._refresh_warp()
        names = self.moving
        fixed = self._fixed_spec()
        self.moving_picker.unobserve(self._picked, "value")
        options = tuple(s["name"] for s in self.viewer.layers if s["kind"] == "volume")
        value = tuple(n for n in names if n in options)
        if options != self.moving_picker.options or value != self.moving_picker.value:
            with self.moving_picker.hold_sync():  # one message: the page's list never
                self.moving_picker.options = options  # holds an index it has no row for
                self.moving_picker.value = value
        self.moving_picker.observe(self._picked, "value")
        self.moving_box.value = (
            f"fixed: <b>{html.escape(fixed['name']) if fixed else '–'}</b> · moving: "
            + (", ".join(html.escape(n) for n in names) or "–"))
        m = self._matrix
        t_mm = ", ".join(f"{v:.1f}" for v in m[:3, 3])
        head = (f"translation ({t_mm}) mm · {len(self.deformation.markers)} marker(s)"
                + (" + field" if self.deformation.field_data is not None else ""))
        tail = f" · {html.escape(note, quote=False)}" if note else ""
        data = html.escape(json.dumps([round(v, 4) for v in m.ravel().tolist()]))
        warped = f" · warped preview of {len(self._warp.layers)}" if self._warp.shown else ""
        head += warped
        self.status.value = (f"<span class='nora-nav-state' data-matrix='{data}' "
                             f"data-warped='{len(self._warp.layers)}'>"
                             f"{head}{tail}</span>")

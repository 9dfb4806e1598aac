"""NORA's desktop in a notebook: the study table, the viewer and the tools in one layout.

``desktop(project)`` returns a :class:`Desktop`: the subject/study table
(:class:`~nora_lab.widgets.table.StudyTable`) above the
:class:`~nora_lab.widgets.viewer.Viewer` (``side_by_side=True``: on its left, as
in NORA, for wide output areas), the ROI tool, the marker tool and the
autoloader editor in tabs below. Selecting a study loads it
through the chosen autoloader (:mod:`nora_lab.widgets.autoloader`; without one,
its first image, its saved ROIs and its point sets); arrow up/down in the table
or the viewer, or :meth:`Desktop.next` / :meth:`Desktop.previous`, step through
the studies for quality control. Double-clicking a file in the table's file list
opens it (an ROI into the ROI tool, an annotation into the marker tool, anything
else as the background – shift+double-click: as an overlay).

Each piece also works alone; the desk only wires them together.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from nora_lab.errors import ConfigError, ImagingError, NoraError

from . import autoloader as al
from ._events import KeyEvent
from ._guard import guarded
from .batchtool import BatchTool
from .fibertool import FiberTool
from .gridstats import Gridstats
from .markertool import MarkerTool
from .navtool import NavigationTool
from .pacsquery import PacsQuery
from .roitool import ROITool
from .table import StudyTable
from .upload import Upload
from .viewer import Viewer

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.project import Project

__all__ = ["Desktop", "desktop"]

_NO_RECIPE = "(default: first image)"


class Desktop(W.VBox):
    """The whole desk for one project; see :func:`desktop`.

    Attributes
    ----------
    table : StudyTable
    viewer : Viewer
    roi_tool : ROITool
    marker_tool : MarkerTool
    nav_tool : NavigationTool
    fiber_tool : FiberTool
    recipe : Autoloader or None
        The autoloader applied to each selected study (None: :data:`autoloader.DEFAULT`).
    psid : str
        The study loaded ("" before the first).
    report : LoadReport or None
        What the last load did.
    """

    def __init__(self, project: Project, *, autoloader: str | al.Autoloader | None = None,
                 filters: dict[str, str] | None = None, layout: str = "1", height: int = 460,
                 page_size: int = 50, select: str | None = None, side_by_side: bool = False,
                 **kwargs: Any):
        self.project = project
        self.psid = ""
        self.report: al.LoadReport | None = None
        self.recipe: al.Autoloader | None = None
        self.table = StudyTable(project, filters=filters, page_size=page_size,
                                height=height - 150 if side_by_side else 200)
        self.viewer = Viewer(layout=layout, height=height)
        self.roi_tool = ROITool(self.viewer, project)
        self.marker_tool = MarkerTool(self.viewer, project)
        self.nav_tool = NavigationTool(self.viewer, project)
        self.fiber_tool = FiberTool(self.viewer, project)
        self.batch_tool = BatchTool(project, table=self.table)
        self.gridstats = Gridstats(project, table=self.table, live=False)  # live while shown
        self.batch_tool.on_launch(self.gridstats.watch)
        self.pacs_query = PacsQuery(project)
        self.upload = Upload(project)  # drop zone; rows of the table are drop targets too
        self.upload.on_imported(lambda _job: self.table.refresh())

        # autoloader bar and editor
        self.recipe_picker = W.Dropdown(description="Autoloader", layout=W.Layout(width="320px"))
        self.prev_button = W.Button(description="▲", tooltip="previous study (arrow up)",
                                    layout=W.Layout(width="36px"))
        self.next_button = W.Button(description="▼", tooltip="next study (arrow down)",
                                    layout=W.Layout(width="36px"))
        self.prev_button.on_click(lambda _: self._guard(self.previous))
        self.next_button.on_click(lambda _: self._guard(self.next))
        self.recipe_name = W.Text(placeholder="recipe name", layout=W.Layout(width="200px"))
        self.recipe_text = W.Textarea(layout=W.Layout(width="98%", height="180px"))
        self.recipe_text.add_class("nora-recipe-json")
        self.recipe_save = W.Button(description="Save recipe", icon="save",
                                    layout=W.Layout(width="120px"))
        self.recipe_delete = W.Button(description="Delete", layout=W.Layout(width="80px"))
        self.recipe_save.on_click(lambda _: self._guard(self._save_recipe_from_form))
        self.recipe_delete.on_click(
            lambda _: self._guard(lambda: self.delete_recipe(self.recipe_name.value)))
        self.recipe_message = W.HTML()
        editor = W.VBox([
            W.HTML("A recipe loads each study's files into the viewer – JSON as in "
                   "<code>docs/autoloader-format.md</code>; saved in the project for every user."),
            self.recipe_text,
            W.HBox([self.recipe_name, self.recipe_save, self.recipe_delete]), self.recipe_message])
        self.status = W.HTML()
        self.status.add_class("nora-desk-status")
        self.state = W.HTML()
        self.state.add_class("nora-desk-state")

        if side_by_side:  # NORA's arrangement; needs a wide output area
            self.table.layout = W.Layout(width="40%", min_width="320px")
            self.viewer.layout = W.Layout(flex="1 1 auto", width="auto")
            main = W.HBox([self.table, self.viewer],
                          layout=W.Layout(width="100%", align_items="flex-start"))
        else:
            main = W.VBox([self.table, self.viewer], layout=W.Layout(width="100%"))
        tools = W.Tab(children=[self.roi_tool, self.marker_tool, editor,
                                self.batch_tool, self.gridstats, self.pacs_query,
                                self.nav_tool, self.fiber_tool])
        for i, title in enumerate(("ROI tool", "Marker tool", "Autoloaders",
                                   "Batch tool", "Gridstats", "PACS query", "Navigation",
                                   "Fibers")):
            tools.set_title(i, title)
        tools.observe(lambda c: setattr(self.gridstats, "live", c["new"] == 4),
                      names="selected_index")
        super().__init__(children=[
            W.HBox([self.recipe_picker, self.prev_button, self.next_button, self.status],
                   layout=W.Layout(align_items="center")),
            self.upload, main, self.state, tools,
        ], **kwargs)
        self.add_class("nora-desk")

        self.refresh_recipes()
        self.recipe_picker.observe(self._recipe_picked, "value")
        self.use_autoloader(autoloader, reload=False)
        self.table.on_select(self._selected)
        self.table.on_open(self._opened)
        self.viewer.on_key(self._on_key)
        self.roi_tool.on_save(self._saved)
        self.marker_tool.on_save(self._saved)
        self.viewer.observe(self._show_state, names=["position", "value", "window"])
        self.roi_tool.status.observe(self._show_state, "value")
        self._show_state()
        if select:
            self.select(select)

    # ------------------------------------------------------------ studies

    def select(self, psid: str) -> None:
        """Select a study in the table, which loads it."""
        if psid == self.table.selected and psid != self.psid:
            self.load(psid)
        self.table.select(psid)

    def load(self, psid: str) -> al.LoadReport:
        """Load a study through the current autoloader (ROIs and point sets of the last
        study are closed; unsaved ROIs are named in the status line)."""
        self.project.study(psid)  # NotFoundError names the study
        unsaved = self.roi_tool.reset(psid)
        self.marker_tool.reset(psid)
        self.psid = psid
        self.nav_tool.psid = self.fiber_tool.psid = psid  # APPLY and .tck saves go there
        recipe = self.recipe or al.DEFAULT
        self.report = recipe.apply(self.project, psid, self.viewer,
                                   roi_tool=self.roi_tool, marker_tool=self.marker_tool)
        note = f" · closed unsaved ROI(s): {', '.join(unsaved)}" if unsaved else ""
        text = html.escape(f"{self.report}{note}", quote=False)
        self.status.value = f"<span class='nora-desk-load'>{text}</span>"
        self._show_state()
        return self.report

    def next(self) -> str | None:
        """Select (and load) the next study of the table; None at the end."""
        return self.table.step(+1)

    def previous(self) -> str | None:
        """Select (and load) the previous study of the table; None at the start."""
        return self.table.step(-1)

    # ------------------------------------------------------------ autoloaders

    def refresh_recipes(self) -> list[str]:
        """Read the project's saved recipes into the picker."""
        names = al.Autoloader.names(self.project)
        current = self.recipe.name if self.recipe else _NO_RECIPE
        self.recipe_picker.options = [_NO_RECIPE, *names]
        self.recipe_picker.value = current if current in self.recipe_picker.options else _NO_RECIPE
        return names

    def use_autoloader(self, recipe: str | al.Autoloader | None, *, reload: bool = True) -> None:
        """Apply this recipe (a saved name or an :class:`Autoloader`) from now on; the
        loaded study is loaded again through it."""
        if isinstance(recipe, str):
            recipe = al.Autoloader.load(self.project, recipe) if recipe != _NO_RECIPE else None
        self.recipe = recipe
        self.recipe_text.value = json.dumps((recipe or al.DEFAULT).to_dict(), indent=1)
        self.recipe_name.value = recipe.name if recipe else ""
        if recipe is not None and recipe.name and recipe.name not in self.recipe_picker.options:
            self.recipe_picker.options = [*self.recipe_picker.options, recipe.name]
        value = recipe.name if recipe and recipe.name in self.recipe_picker.options else _NO_RECIPE
        if self.recipe_picker.value != value:
            self.recipe_picker.unobserve(self._recipe_picked, "value")
            self.recipe_picker.value = value
            self.recipe_picker.observe(self._recipe_picked, "value")
        if reload and self.psid:
            self.load(self.psid)

    def save_recipe(self, recipe: al.Autoloader | dict, name: str) -> al.Autoloader:
        """Validate and store a recipe in the project (shared with its users)."""
        if isinstance(recipe, dict):
            recipe = al.Autoloader.from_dict(recipe, name=name)
        recipe.save(self.project, name)
        self.refresh_recipes()
        return recipe

    def delete_recipe(self, name: str) -> None:
        """Remove a saved recipe from the project."""
        if not name:
            raise ConfigError("name the recipe to delete")
        al.Autoloader.delete(self.project, name)
        if self.recipe is not None and self.recipe.name == name:
            self.recipe = None
        self.refresh_recipes()
        self.recipe_message.value = f"deleted {html.escape(name)}"

    def _save_recipe_from_form(self) -> None:
        try:
            obj = json.loads(self.recipe_text.value)
        except ValueError as exc:
            raise ConfigError(f"the recipe is not valid JSON: {exc}") from None
        recipe = self.save_recipe(obj, self.recipe_name.value.strip())
        self.recipe_message.value = f"saved {html.escape(recipe.name)}"
        self.use_autoloader(recipe)

    def _recipe_picked(self, change: Any) -> None:
        self._guard(lambda: self.use_autoloader(change.new))

    # ------------------------------------------------------------ events

    def _selected(self, psid: str) -> None:
        if psid and psid != self.psid:
            self._guard(lambda: self.load(psid))

    def _opened(self, psid: str, relpath: str, path: str, overlay: bool = False) -> None:
        self._guard(lambda: self.open_file(relpath, psid=psid, overlay=overlay))

    def open_file(self, relpath: str, *, psid: str | None = None, overlay: bool = False) -> str:
        """Open one file of the loaded study (or of ``psid``, which is loaded first)."""
        psid = psid or self.psid
        if psid != self.psid:
            self.select(psid)
        path = self.project.study_dir(psid) / relpath
        low = relpath.lower()
        if low.startswith("rois/"):
            self.roi_tool.load(path, relpath=relpath)
            what = "ROI"
        elif low.endswith(".ano.json"):
            self.marker_tool.load(path)
            what = "point set(s)"
        else:
            volume = path.name.lower().endswith(_VOLUMES)
            role = "overlay" if overlay and self.viewer.layers else "background"
            try:
                self.viewer.open(al.open_source(Path(path)), viewport="all",
                                 role=role if volume else None, name=Path(relpath).name)
            except NoraError:
                raise
            except Exception as exc:  # noqa: BLE001 - a damaged file: say which
                raise ImagingError(
                    f"{relpath}: cannot read it ({type(exc).__name__}: {exc})") from None
            what = role if volume else "file"
        self.status.value = f"opened {html.escape(relpath)} ({what})"
        return what

    def _saved(self, psid: str, relpath: str) -> None:
        if psid == self.table.selected:
            self.table.refresh_files()

    def _on_key(self, event: KeyEvent) -> None:
        if event.action == "next":
            self._guard(self.next)
        elif event.action == "previous":
            self._guard(self.previous)

    def _guard(self, fn: Callable[[], Any]) -> None:
        guarded(self._show_error, fn)

    def _show_error(self, text: str) -> None:
        self.status.value = (f"<span class='nora-desk-error'>⚠ "
                             f"{html.escape(text, quote=False)}</span>")

    def _show_state(self, _: Any = None) -> None:
        v = self.viewer
        x, y, z = v.position
        val = "–" if v.value is None else f"{v.value:g}"
        roi = self.roi_tool.current
        roi_text = f"{roi.name}={roi.count}" if roi is not None else "none"
        self.state.value = (
            f"<code class='nora-desk-python'>PY study={html.escape(self.psid or '–')} "
            f"position=({x:.1f}, {y:.1f}, {z:.1f}) value={val} "
            f"window=({v.window[0]:g}, {v.window[1]:g}) roi={html.escape(roi_text)}</code>")


_VOLUMES = (".nii", ".nii.gz", ".img", ".hdr", ".mgh", ".mgz", ".nrrd", ".nhdr")


def desktop(project: Project, **kwargs: Any) -> Desktop:
    """NORA's desktop for a project: study table + viewer + ROI/marker tools + autoloaders.

    Parameters
    ----------
    project : Project
        From ``Archive.open().project(name)``.
    **kwargs
        ``autoloader`` (a saved recipe's name, or an
        :class:`~nora_lab.widgets.autoloader.Autoloader`), ``filters`` (initial filter bars),
        ``layout`` (viewer layout), ``height``, ``page_size``, ``select`` (a PSID to load at
        once), ``side_by_side`` (the table left of the viewer instead of above it).

    Returns
    -------
    Desktop

    Examples
    --------
    >>> from nora_lab.archive import Archive
    >>> desk = desktop(Archive.open().project("demo"))      # doctest: +SKIP
    >>> desk.next(); desk.roi_tool.new("lesion")            # doctest: +SKIP
    """
    return Desktop(project, **kwargs)

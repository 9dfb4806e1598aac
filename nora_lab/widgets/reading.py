"""The reading tool in a notebook: a form beside the viewer, one case after another.

:class:`ReadingWidget` shows the reading's instructions and links, "n of N done", the
case (blind: "case k" and only the metadata the reading shows), the stage's images in a
:class:`~nora_lab.widgets.viewer.Viewer`, and the form; **Submit** saves the answers (and
drawn ROIs / placed points) with the time spent and moves on. Opening it again resumes
where the reader stopped. :class:`FormPreview` edits a form's JSON with a live preview.

The logic lives in :mod:`nora_lab.reading`; this module only draws it (ipywidgets).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

import ipywidgets as W
import numpy as np

from nora_lab.errors import ConfigError
from nora_lab.reading.forms import Form, Item

from ._guard import error_text

__all__ = ["ReadingTool", "ReadingWidget", "ReadingEditor", "FormPreview", "form_widgets",
           "form_values"]


class _Checks(W.VBox):
    """Checkboxes with a list ``value`` (a checkbox form item)."""

    def __init__(self, item: Item):
        self._boxes = [(v, W.Checkbox(value=False, description=lab, indent=False))
                       for v, lab in item.options]
        super().__init__([b for _, b in self._boxes])

    @property
    def value(self) -> list[Any]:
        return [v for v, b in self._boxes if b.value]

    @value.setter
    def value(self, values: list[Any]) -> None:
        for v, b in self._boxes:
            b.value = v in (values or [])


def _red(text: str) -> str:
    return f"<span style='color:#b00'>{html.escape(text)}</span>"


def _widget(item: Item) -> W.Widget:
    if item.type == "radio":
        w = W.RadioButtons(options=[(lab, v) for v, lab in item.options], value=None)
    elif item.type == "select":
        w = W.Dropdown(options=[("–", None)] + [(lab, v) for v, lab in item.options], value=None)
    elif item.type == "checkbox":
        w = _Checks(item)
    elif item.type == "likert":
        labels = item.labels or [str(v) for v in item.values]
        w = W.ToggleButtons(options=list(zip(labels, item.values, strict=True)), value=None,
                            style={"button_width": "auto"})
    elif item.type == "slider":
        lo, hi = float(item.min or 0.0), float(item.max if item.max is not None else 100.0)
        w = W.FloatSlider(min=lo, max=hi, step=item.step or (hi - lo) / 100, value=item.blank)
    elif item.type in ("text", "number"):
        w = W.Text(placeholder="number" if item.type == "number" else "")
    else:  # roi / points: drawn in the viewer
        w = W.HTML(
            "<i>" + ("space: draw / erase in the viewer" if item.type == "roi"
                     else "add points at the crosshair") + "</i>")
    w.add_class("nora-reading-item")
    w.add_class(f"nora-reading-item-{item.name}")
    return w


def form_widgets(form: Form) -> dict[str, W.Widget]:
    """One widget per form item, by item name."""
    return {it.name: _widget(it) for it in form.items}


def form_values(form: Form, widgets: Mapping[str, W.Widget]) -> dict[str, Any]:
    """The answers currently entered in ``widgets`` (questions only)."""
    return {it.name: getattr(widgets[it.name], "value", None) for it in form.questions}


def _form_box(form: Form, widgets: Mapping[str, W.Widget]) -> W.VBox:
    rows = [W.HTML(f"<b>{html.escape(form.title)}</b>")] if form.title else []
    for it in form.items:
        star = " *" if it.required else ""
        rows.append(W.VBox([W.HTML(f"{html.escape(it.label)}{star}"), widgets[it.name]]))
    return W.VBox(rows, layout=W.Layout(min_width="280px"))


class FormPreview(W.HBox):
    """A form's JSON on the left, the rendered form on the right, updated as you type."""

    def __init__(self, form: Mapping[str, Any] | str | None = None):
        text = form if isinstance(form, str) else json.dumps(form or {"items": []}, indent=1)
        self.editor = W.Textarea(value=text, layout=W.Layout(width="420px", height="360px"))
        self.preview = W.VBox()
        self.error = W.HTML()
        self.error.add_class("nora-form-error")
        self.form: Form | None = None
        super().__init__([self.editor, W.VBox([self.error, self.preview])])
        self.editor.observe(lambda _: self._render(), "value")
        self._render()

    def _render(self) -> None:
        try:
            self.form = Form.from_json(self.editor.value)
        except Exception as exc:  # noqa: BLE001 - shown below the editor
            self.error.value = _red(error_text(exc))
            return
        self.error.value = ""
        self.preview.children = [_form_box(self.form, form_widgets(self.form))]


class ReadingWidget(W.VBox):
    """Read one mode of a reading in the notebook.

    Parameters
    ----------
    reading : nora_lab.reading.Reading
        Opened as the reader (``Reading.open(arc.project(name), reading_name)``).
    mode : {"training", "serious"}
    viewer : bool
        Show the stage's images in a Viewer (False: form only).
    height : int
        Viewer height in CSS pixels.

    Examples
    --------
    >>> ReadingWidget(Reading.open(arc.project("demo"), "lesions"), "serious")  # doctest: +SKIP
    """

    def __init__(self, reading, mode: str = "serious", *, viewer: bool = True,  # noqa: ANN001
                 height: int = 360, **session_kwargs: Any):
        self.reading = reading
        self.session = reading.session(mode, **session_kwargs)
        cfg = reading.config
        self.form = cfg.form
        self.inputs = form_widgets(self.form)
        self.progress = W.HTML()
        self.progress.add_class("nora-reading-progress")
        self.case = W.HTML()
        self.case.add_class("nora-reading-case")
        self.status = W.HTML()
        self.status.add_class("nora-reading-status")
        self.submit_button = W.Button(description="Submit", button_style="primary", icon="check")
        self.submit_button.add_class("nora-reading-submit")
        self.submit_button.on_click(lambda _: self.submit())
        buttons = [self.submit_button]
        if self.session.mode_config.allow_restart:
            self.restart_button = W.Button(description="Restart", button_style="warning")
            self.restart_button.on_click(lambda _: self.restart())
            buttons.append(self.restart_button)
        self.viewer = None
        if viewer:
            from nora_lab.widgets.viewer import Viewer

            self.viewer = Viewer(height=height, layout=cfg.viewer.get("layout", "1"))
            self.viewer.on_draw(self._on_draw)
        self.add_point = W.Button(description="Add point at crosshair")
        self.add_point.on_click(lambda _: self._add_point())
        self._annotations: dict[str, Any] = {}
        header = [W.HTML(f"<h3>{html.escape(reading.name)} – {mode}</h3>")]
        if cfg.instructions:
            header.append(W.HTML(f"<div class='nora-reading-instructions'>"
                                 f"{html.escape(cfg.instructions)}</div>"))
        if cfg.links:
            header.append(W.HTML(" · ".join(
                f"<a href='{html.escape(link['url'])}' target='_blank'>"
                f"{html.escape(link.get('title', link['url']))}</a>" for link in cfg.links)))
        self.table = W.Output(layout=W.Layout(display="none"))
        self.table_toggle = W.ToggleButton(description="Study table", value=False)
        self.table_toggle.observe(self._toggle_table, "value")
        tools = [self.table_toggle] if cfg.tools.get("studytable") else []
        if any(it.type == "points" for it in self.form.items):
            tools.append(self.add_point)
        side = W.VBox([self.case, _form_box(self.form, self.inputs), W.HBox(buttons), self.status])
        main = [self.viewer, side] if self.viewer is not None else [side]
        super().__init__([*header, W.HBox([self.progress, *tools]), self.table, W.HBox(main)])
        self.add_class("nora-reading")
        self._show()

    # --- showing a case ---------------------------------------------------------------
    def _show(self) -> None:
        s = self.session
        self.progress.value = f"<b>{s.progress_text}</b>"
        item = s.current
        for it in self.form.questions:
            self.inputs[it.name].value = it.blank
        self._annotations = {}
        self.submit_button.disabled = item is None
        if item is None:
            self.case.value = "<b>All cases done.</b>"
            if self.viewer is not None:
                self.viewer.clear()
            return
        info = ", ".join(f"{k}: {html.escape(str(v))}" for k, v in s.case_info().items())
        earlier = s.earlier_results()
        prev = "".join(f"<br><small>earlier ({r['reader']}, stage {r['stage'] + 1}): "
                       f"{html.escape(json.dumps(r['answers']))}</small>" for r in earlier)
        self.case.value = (f"<b>{html.escape(s.case_label())}</b> – stage {item.stage + 1} "
                           f"({html.escape(s.stage(item).name)}), repetition {item.repetition + 1}"
                           f"{'<br>' + info if info else ''}{prev}")
        self.case.add_class("nora-reading-case")
        if self.viewer is not None:
            self._load_images()

    def _load_images(self) -> None:
        import nibabel as nib

        from nora_lab.imaging import ROI, PointSet

        v = self.viewer
        assert v is not None  # called only with a viewer
        v.clear()
        images = self.session.images()
        for im in images:
            opts = {k: im[k] for k in ("role", "colormap", "window", "opacity", "color") if k in im}
            v.open(str(im["path"]), viewport="all" if opts.get("role") == "mask" else 0, **opts)
        ref = nib.load(str(images[0]["path"])) if images else None
        for it in self.form.annotations:
            if it.type == "roi" and ref is not None:
                roi = ROI.from_reference(ref, name=it.name)
                self._annotations[it.name] = roi
                v.set_mask(roi.data.astype(np.uint8), roi.affine, name=it.name, color="yellow")
            elif it.type == "points":
                self._annotations[it.name] = PointSet(it.name)

    #: pen radius (mm) for ROI answers; right button erases
    pen_radius_mm = 2.0

    def _on_draw(self, ev) -> None:  # noqa: ANN001
        from nora_lab.imaging import ROI, brush

        roi = next((a for a in self._annotations.values() if isinstance(a, ROI)
                    and a.name == ev.layer), None)
        if roi is None:
            return
        world = {"sagittal": 0, "coronal": 1, "axial": 2}.get(ev.axis)
        axis = None if world is None else int(np.argmax(np.abs(roi.affine[world, :3])))
        assert self.viewer is not None  # its own draw events
        boxes = []
        for vox in ev.voxels[ev.inside]:
            edit = brush(roi, tuple(int(v) for v in vox), self.pen_radius_mm, axis=axis,
                         erase=bool(ev.buttons & 2))
            if edit.bbox is not None:
                boxes.append(edit.bbox)
        if boxes:
            lo = [min(b[i].start for b in boxes) for i in range(3)]
            hi = [max(b[i].stop for b in boxes) for i in range(3)]
            box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
            self.viewer.update_mask(tuple(zip(lo, hi, strict=True)), roi.data[box], layer=roi.name)

    def _add_point(self) -> None:
        from nora_lab.imaging import PointSet

        for ps in self._annotations.values():
            if isinstance(ps, PointSet) and self.viewer is not None:
                ps.add(self.viewer.position)
                self.status.value = f"{len(ps)} point(s) in {ps.name}"

    def _toggle_table(self, change: Any) -> None:
        self.table.layout.display = "block" if change["new"] else "none"
        if change["new"]:
            s = self.session
            cols = ["psid"] if "psid" in self.reading.config.blind_metadata else []
            cols += [c for c in self.reading.config.blind_metadata if c != "psid"]
            self.table.clear_output()
            with self.table:
                from IPython.display import display

                display(s.cases[cols] if cols else s.cases.assign(case=range(1,
                                                                             len(s.cases) + 1))[
                                                                                 ["case"]])

    # --- actions ----------------------------------------------------------------------
    def answers(self) -> dict[str, Any]:
        return form_values(self.form, self.inputs)

    def submit(self) -> None:
        """Save the entered answers for the current case and show the next one."""
        from nora_lab.imaging import ROI

        item = self.session.current
        ann = {k: (a if (a.count if isinstance(a, ROI) else len(a)) else None)
               for k, a in self._annotations.items()}
        try:
            self.session.submit(self.answers(), ann)
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            self.status.value = _red(error_text(exc))
            return
        self.status.value = (f"saved {html.escape(self.session.case_label(item))} "
                             f"stage {item.stage + 1} ({self.session.progress_text})")
        self._show()

    def restart(self) -> None:
        try:
            n = self.session.restart()
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            self.status.value = _red(error_text(exc))
            return
        self.status.value = f"restarted: {n} result(s) of {self.reading.user} deleted"
        self._show()


class ReadingTool(W.VBox):
    """NORA's reading tool: the project's readings with this user's progress.

    Per reading: "done of total" per mode, buttons that open (or resume) the training or
    serious reading below, the instructions (Info) and, for the reading's admin, the
    results with the agreement table (Results). Refresh re-reads the list.
    """

    def __init__(self, project, *, viewer: bool = True, height: int = 360):  # noqa: ANN001
        self.project = project
        self._viewer = viewer
        self._height = height
        self.rows = W.VBox()
        self.area = W.VBox()
        self.area.add_class("nora-reading-area")
        refresh = W.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _: self.refresh())
        super().__init__([W.HBox([W.HTML("<b>Readings</b>"), refresh]), self.rows, self.area])
        self.add_class("nora-reading-tool")
        self.refresh()

    def refresh(self) -> None:
        from nora_lab.reading import Reading, list_readings

        table = list_readings(self.project)
        rows = []
        for rec in table.to_dict("records"):
            reading = Reading.open(self.project, rec["reading"])
            parts, buttons = [], []
            for mode in ("training", "serious"):
                if f"{mode}_total" in rec and rec[f"{mode}_total"] == rec[f"{mode}_total"]:
                    parts.append(f"{mode} {int(rec[f'{mode}_done'])}/{int(rec[f'{mode}_total'])}")
                    b = W.Button(description=mode.capitalize())
                    b.on_click(lambda _, r=reading, m=mode: self._start_clicked(r, m))
                    buttons.append(b)
            info = W.Button(description="Info", icon="info")
            info.on_click(lambda _, r=reading: self._info(r))
            buttons.append(info)
            if reading.is_admin:
                res = W.Button(description="Results", icon="list")
                res.on_click(lambda _, r=reading: self._results(r))
                buttons.append(res)
            rows.append(W.HBox([W.HTML(f"<b>{html.escape(rec['reading'])}</b> "
                                       f"({' · '.join(parts)})"), *buttons]))
        self.rows.children = rows or [W.HTML("<i>no readings in this project</i>")]

    def start(self, reading, mode: str) -> ReadingWidget:  # noqa: ANN001
        """Show ``mode`` of ``reading`` below the list (resuming this user's progress)."""
        try:
            w = ReadingWidget(reading, mode, viewer=self._viewer, height=self._height)
        except Exception as exc:
            self.area.children = [W.HTML(_red(error_text(exc)))]
            raise
        self.area.children = [w]
        return w

    def _start_clicked(self, reading, mode: str) -> None:  # noqa: ANN001
        try:
            self.start(reading, mode)
        except Exception:  # noqa: BLE001, S110 - shown in the area by start()
            pass

    def _info(self, reading) -> None:  # noqa: ANN001
        cfg = reading.config
        links = "".join(f"<li><a href='{html.escape(link['url'])}' target='_blank'>"
                        f"{html.escape(link.get('title', link['url']))}</a></li>"
                        for link in cfg.links)
        self.area.children = [W.HTML(f"<p>{html.escape(cfg.instructions or 'no instructions')}</p>"
                                     f"{'<ul>' + links + '</ul>' if links else ''}")]

    def _results(self, reading) -> None:  # noqa: ANN001
        from IPython.display import display

        from nora_lab.reading import agreement

        out = W.Output()
        res = reading.results()
        with out:
            display(reading.progress())
            display(res)
            if res["reader"].nunique() > 1:
                display(agreement.agreement(res, reading.config.form).round(3))
        self.area.children = [out]


class ReadingEditor(W.VBox):
    """Create or edit a reading (NORA's wrench): name, form with preview, configuration.

    Tabs: *form* (:class:`FormPreview`), *reading* (the ``reading``/``tools``/``viewer``
    JSON) and *reading_template* (a template to copy from). **Save** checks everything
    and stores it (project admins only); problems are shown, nothing is saved then.
    """

    def __init__(self, project, name: str = ""):  # noqa: ANN001
        from nora_lab.reading.config import TEMPLATE
        from nora_lab.reading.readings import KIND

        self.project = project
        raw: dict[str, Any] = {}
        if name:
            raw = dict(project.get_json(KIND, name))
        self.name = W.Text(value=name, description="Reading")
        self.form = FormPreview(raw.get("form", {"title": "", "items": []}))
        rest = {k: raw[k] for k in ("reading", "tools", "viewer") if k in raw} or TEMPLATE
        self.config = W.Textarea(value=json.dumps(rest, indent=1),
                                 layout=W.Layout(width="640px", height="360px"))
        template = W.Textarea(value=json.dumps(TEMPLATE, indent=1), disabled=True,
                              layout=W.Layout(width="640px", height="360px"))
        tabs = W.Tab([self.form, self.config, template])
        for i, title in enumerate(("form", "reading", "reading_template")):
            tabs.set_title(i, title)
        self.save_button = W.Button(description="Save", button_style="primary", icon="save")
        self.save_button.on_click(lambda _: self.save())
        self.status = W.HTML()
        self.status.add_class("nora-reading-editor-status")
        super().__init__([W.HBox([self.name, self.save_button]), tabs, self.status])

    def save(self):  # noqa: ANN201
        """Check and store the reading; returns it, or None (the problem is shown)."""
        from nora_lab.reading import Reading

        try:
            try:
                rest = json.loads(self.config.value)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"the reading JSON does not parse: {exc}") from None
            cfg = {"form": json.loads(self.form.editor.value), **rest}
            reading = Reading.create(self.project, self.name.value, cfg, overwrite=True)
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            self.status.value = _red(error_text(exc))
            return None
        self.status.value = f"saved reading {html.escape(reading.name)}"
        return reading

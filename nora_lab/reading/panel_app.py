"""The reading tool as a standalone web app (Panel), for readers who never open a notebook.

Serve it with::

    panel serve nora_lab/reading/panel_app.py --args --archive /data/nora \\
        --project demo --reading lesions [--mode serious] [--user alice]

or from Python: ``nora_lab.reading.serve(archive, "demo", "lesions", port=5006)``.
The reader is ``--user``, else the login Panel reports (``pn.state.user``: behind an
OAuth provider, or ``serve(..., basic_auth="logins.json", cookie_secret=...)`` /
``panel serve --basic-auth logins.json --cookie-secret ...`` for a small lab), else
the OS account. A user without a right on the
project gets the archive's "no project" error page, not the reading.

The app shows the same session as the notebook widget: instructions and links,
"n of N done", the case (blinded as configured), the stage's images as three orthogonal
slices through the centre (first image gray, masks in colour), and the form. Submit saves
and moves on; closing the page and coming back resumes.
"""

from __future__ import annotations

import argparse
import html
import io
import sys
from typing import Any

import numpy as np

from nora_lab.errors import NoraError
from nora_lab.reading._deps import need
from nora_lab.reading.forms import Form, Item

__all__ = ["app", "serve"]


def _pn():  # noqa: ANN202
    return need("panel")


def _widget(pn, item: Item):  # noqa: ANN001, ANN202
    name = item.label + (" *" if item.required else "")
    css = [f"nora-reading-item-{item.name}"]
    if item.type == "radio":
        return pn.widgets.RadioBoxGroup(label=name, options={lab: v for v, lab in item.options},
                                        value=None, inline=True, css_classes=css)
    if item.type == "select":
        return pn.widgets.Select(label=name,
                                 options={"–": None, **{lab: v for v, lab in item.options}},
                                 value=None, css_classes=css)
    if item.type == "checkbox":
        return pn.widgets.CheckBoxGroup(label=name, options={lab: v for v, lab in item.options},
                                        value=[], inline=True, css_classes=css)
    if item.type == "likert":
        labels = item.labels or [str(v) for v in item.values]
        return pn.widgets.RadioButtonGroup(label=name,
                                           options=dict(zip(labels, item.values, strict=True)),
                                           value=None, css_classes=css)
    if item.type == "slider":
        lo, hi = float(item.min or 0.0), float(item.max if item.max is not None else 100.0)
        return pn.widgets.FloatSlider(label=name, start=lo, end=hi,
                                      step=item.step or (hi - lo) / 100,
                                      value=item.blank,
                                      css_classes=css)
    if item.type in ("text", "number"):
        return pn.widgets.TextInput(label=name, value="", css_classes=css,
                                    placeholder="number" if item.type == "number" else "")
    return pn.pane.Markdown(f"*{item.label}: drawing is available in the notebook tool*")


def _slices_png(images: list[dict[str, Any]]) -> bytes:
    """Three orthogonal slices through the centre of the first image, masks overlaid."""
    import nibabel as nib

    figure = need("matplotlib.figure")  # a bare Figure: no pyplot, no backend switch

    if not images:
        return b""
    def voxels(path: Any) -> np.ndarray:
        img: Any = nib.load(str(path))
        return np.asarray(img.dataobj)

    base = voxels(images[0]["path"]).astype(np.float64)
    masks = [voxels(im["path"]) != 0 for im in images[1:] if im.get("role") == "mask"]
    fig = figure.Figure(figsize=(7.5, 2.6))
    axes = fig.subplots(1, 3)
    c = [s // 2 for s in base.shape[:3]]
    cuts = [lambda a: a[c[0], :, :], lambda a: a[:, c[1], :], lambda a: a[:, :, c[2]]]
    for ax, cut in zip(axes, cuts, strict=True):
        ax.imshow(np.rot90(cut(base)), cmap="gray")
        for m in masks:
            if m.shape == base.shape:
                ax.imshow(np.rot90(np.ma.masked_equal(cut(m).astype(float), 0)), cmap="autumn",
                          alpha=0.5)
        ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


class ReadingApp:
    """The app's state and layout for one reader and mode (see :func:`app`)."""

    def __init__(self, reading, mode: str = "serious"):  # noqa: ANN001
        pn = _pn()
        self.reading = reading
        self.session = reading.session(mode)
        self.form: Form = reading.config.form
        cfg = reading.config
        self.inputs = {it.name: _widget(pn, it) for it in self.form.items}
        self.progress = pn.pane.Markdown("", css_classes=["nora-reading-progress"])
        self.case = pn.pane.Markdown("", css_classes=["nora-reading-case"])
        self.status = pn.pane.Markdown("", css_classes=["nora-reading-status"])
        self.image = pn.pane.PNG(None, width=600)
        self.submit_button = pn.widgets.Button(label="Submit", color="primary")
        self.submit_button.on_click(lambda _: self.submit())
        buttons = [self.submit_button]
        if self.session.mode_config.allow_restart:
            restart = pn.widgets.Button(label="Restart", color="warning")
            restart.on_click(lambda _: self.restart())
            buttons.append(restart)
        header = [pn.pane.Markdown(f"## {reading.name} – {mode}  \nreader: **{reading.user}**")]
        if cfg.instructions:
            header.append(pn.pane.Markdown(cfg.instructions))
        if cfg.links:
            header.append(pn.pane.Markdown(" · ".join(
                f"[{link.get('title', link['url'])}]({link['url']})" for link in cfg.links)))
        form_col = pn.Column(*(f"**{self.form.title}**",) if self.form.title else (),
                             *(w for it in self.form.items for w in self._labelled(pn, it)),
                             pn.Row(*buttons), self.status, width=380)
        self.layout = pn.Column(*header, self.progress, self.case, pn.Row(self.image, form_col))
        self._show()

    def _labelled(self, pn, item: Item) -> list:  # noqa: ANN001
        if item.type in ("radio", "checkbox", "likert"):  # these widgets show no name
            return [pn.pane.Markdown(item.label + (" \\*" if item.required else ""),
                                     margin=(8, 10, 0, 10)), self.inputs[item.name]]
        return [self.inputs[item.name]]

    def _show(self) -> None:
        s = self.session
        self.progress.object = f"**{s.progress_text}**"
        for it in self.form.questions:
            self.inputs[it.name].value = it.blank
        item = s.current
        self.submit_button.disabled = item is None
        if item is None:
            self.case.object = "**All cases done.**"
            self.image.object = None
            return
        info = ", ".join(f"{k}: {v}" for k, v in s.case_info().items())
        self.case.object = (f"**{s.case_label()}** – stage {item.stage + 1} "
                            f"({s.stage(item).name}), repetition {item.repetition + 1}"
                            + (f"  \n{info}" if info else ""))
        png = _slices_png(s.images())
        self.image.object = png or None

    def answers(self) -> dict[str, Any]:
        return {it.name: self.inputs[it.name].value for it in self.form.questions}

    def submit(self) -> None:
        item = self.session.current
        try:
            self.session.submit(self.answers())
        except NoraError as exc:
            self.status.object = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return
        self.status.object = f"saved {self.session.case_label(item)} stage {item.stage + 1}"
        self._show()

    def restart(self) -> None:
        try:
            n = self.session.restart()
        except NoraError as exc:
            self.status.object = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return
        self.status.object = f"restarted: {n} result(s) deleted"
        self._show()


def _open(archive: Any, project: str, reading: str, user: str | None):  # noqa: ANN202
    from nora_lab.archive import Archive
    from nora_lab.reading.readings import Reading

    arc = archive if hasattr(archive, "project") else Archive.open(archive, user=user)
    if user is not None and arc.user != user:
        arc = arc.as_user(user)
    return Reading.open(arc.project(project), reading)


def app(archive: Any, project: str, reading: str, mode: str = "serious", *,
        user: str | None = None):  # noqa: ANN201
    """The reading app's layout for one reader (a Panel ``Column``).

    ``archive`` is an :class:`~nora_lab.archive.Archive` or its location. Errors (no
    right on the project, a finished or misconfigured reading) are shown on the page.
    """
    pn = _pn()
    try:
        return ReadingApp(_open(archive, project, reading, user), mode).layout
    except NoraError as exc:
        return pn.Column(pn.pane.Markdown(f"## Reading {reading!r} cannot be opened\n\n{exc}",
                                          css_classes=["nora-reading-error"]))


def serve(archive: Any, project: str, reading: str, mode: str = "serious", *,
          user: str | None = None, port: int = 0, address: str = "127.0.0.1",
          show: bool = False, threaded: bool = False, **kwargs: Any):  # noqa: ANN201
    """Serve the app (one session per browser page); returns Panel's server.

    Each page opens its own session, so several readers can use one server when a login
    (``pn.state.user``) tells them apart; without one all pages read as ``user``.
    """
    pn = _pn()

    def page():  # noqa: ANN202
        who = user or pn.state.user or None
        return app(archive, project, reading, mode, user=who)

    return pn.serve({"reading": page}, port=port, address=address, show=show,
                    threaded=threaded, title=f"Reading {reading}", **kwargs)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="panel serve nora_lab/reading/panel_app.py --args")
    p.add_argument("--archive", default=None,
                   help="archive location (default: $NORA_DB / $NORA_HOME)")
    p.add_argument("--project", required=True)
    p.add_argument("--reading", required=True)
    p.add_argument("--mode", default="serious", choices=["training", "serious"])
    p.add_argument("--user", default=None)
    return p.parse_args(argv)


if __name__.startswith("bokeh_app"):  # `panel serve nora_lab/reading/panel_app.py --args ...`
    _args = _parse(sys.argv[1:])
    _pn_mod = _pn()
    app(_args.archive, _args.project, _args.reading, _args.mode,
        user=_args.user or _pn_mod.state.user or None).servable(title=f"Reading {_args.reading}")

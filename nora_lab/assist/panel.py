"""The assistant beside the ROI tool: modes, the live proposal, accept and reset.

:class:`AssistPanel` is the row the ROI tool shows under its pens. With a mode on
(point, scribble, box, lasso) the viewer's page (``widgets/js/src/assist.js``) sends the
interactions; the panel runs them through an :class:`~nora_lab.assist.Assistant` on the
viewer's background and shows the proposal as a mask layer ("assist proposal") updated
by bounding-box diffs, as the pens are. **Accept** puts the proposal into the current
ROI as one undoable edit; **Reset** forgets the interactions.

It reaches the viewer and the ROI tool only through what they publish (``viewer.send``,
``on_msg``, ``set_mask``, ``update_mask``, ``layers``; the tool's ROIs), so it stays
below the widgets layer.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W
import numpy as np

from nora_lab.errors import AssistError, NoraError
from nora_lab.imaging.roi import union_bbox

from .backend import Proposal
from .session import Assistant

__all__ = ["AssistPanel", "MODES"]

#: mode key -> label
MODES = {"off": "Off", "point": "Points", "scribble": "Scribble", "box": "Box",
         "lasso": "Lasso"}
LAYER = "assist proposal"


class AssistPanel(W.VBox):
    """The ROI assistant's controls for an ROI tool (see the module docstring).

    Parameters
    ----------
    tool : ROITool
        Its viewer shows the proposal; its current ROI receives what is accepted.
    backend : str, optional
        The assistant's backend (default: ``assist.yaml``).
    """

    def __init__(self, tool: Any, backend: str | None = None, **kwargs: Any) -> None:
        self.tool = tool
        self.viewer = tool.viewer
        self.backend = backend
        self.assistant: Assistant | None = None
        self._source: tuple[str, int] | None = None
        self._shown: tuple[slice, slice, slice] | None = None
        self.mode_buttons = W.ToggleButtons(options=[(v, k) for k, v in MODES.items()],
                                            value="off", description="Assistant",
                                            style={"button_width": "64px"})
        self.accept_button = W.Button(description="Accept", icon="check",
                                      tooltip="into the current ROI (Enter)",
                                      layout=W.Layout(width="90px"))
        self.reset_button = W.Button(description="Reset", icon="times",
                                     tooltip="forget the interactions (Escape)",
                                     layout=W.Layout(width="90px"))
        self.status = W.HTML()
        self.status.add_class("nora-assist-status")
        self.mode_buttons.observe(lambda c: self._mode_changed(), "value")
        self.accept_button.on_click(lambda _: self._guard(self.accept))
        self.reset_button.on_click(lambda _: self._guard(self.reset))
        super().__init__(children=[
            W.HBox([self.mode_buttons, self.accept_button, self.reset_button]), self.status,
        ], **kwargs)
        self.add_class("nora-assist")
        self.viewer.on_msg(self._on_msg)
        self._say("off")

    # ------------------------------------------------------------ public

    @property
    def mode(self) -> str:
        return str(self.mode_buttons.value)

    @mode.setter
    def mode(self, value: str) -> None:
        self.mode_buttons.value = value

    def add(self, kind: str, points: Any, positive: bool = True) -> Proposal:
        """One interaction in world mm (what a click, drag, box or lasso sends)."""
        a = self._session()
        if kind == "point":
            proposal = a.add_point(np.asarray(points, float).reshape(-1, 3)[-1], positive,
                                   world=True)
        elif kind == "scribble":
            proposal = a.add_scribble(points, positive, world=True)
        elif kind == "box":
            pts = np.asarray(points, float).reshape(-1, 3)
            proposal = a.add_box(pts[0], pts[-1], positive, world=True)
        elif kind == "lasso":
            proposal = a.add_lasso(points, positive, world=True)
        else:
            raise AssistError(f"unknown assistant interaction {kind!r}; use one of "
                            "point, scribble, box, lasso")
        self._show(proposal)
        self._say(f"{len(a.interactions)} interaction(s) · {proposal.count} voxels · "
                  f"{1000 * a.latency:.0f} ms")
        return proposal

    def accept(self) -> Any:
        """Add the proposal to the current ROI (a new one if there is none): one edit."""
        a = self.assistant
        if a is None or a.proposal.bbox is None:
            raise AssistError("the assistant has no proposal to accept: click on the object "
                            "first")
        roi = self.tool.current
        if roi is None:
            roi = self.tool.new("assist")
        box = a.proposal.bbox
        edit = roi.apply(box, roi.data[box] | a.proposal.mask, "Assistant")
        self.tool._edited(self.tool._entry(roi.name), edit)
        self.reset()
        self._say(f"accepted into {roi.name!r}: {edit.changed} voxels")
        return edit

    def reset(self) -> None:
        """Forget the interactions and clear the proposal."""
        if self.assistant is not None:
            self.assistant.reset()
        self._show(None)
        self._say("reset")

    # ------------------------------------------------------------ internals

    def _background(self) -> dict:
        layers = [s for s in self.viewer.layers if s["role"] == "background"]
        here = [s for s in layers if self.viewer.active_viewport in s["viewports"]]
        if not (here or layers):
            raise AssistError("the assistant works on the viewer's background: open an image")
        return (here or layers)[-1]

    def _session(self) -> Assistant:
        spec = self._background()
        key = (spec["id"], spec["version"])
        if self.assistant is None or self._source != key:
            vol = self.viewer.layer(spec["id"]).volume
            data = vol.data
            if vol.slope != 1.0 or vol.inter != 0.0:
                data = data.astype(np.float32) * np.float32(vol.slope) + np.float32(vol.inter)
            self.assistant = Assistant(data, vol.affine, backend=self.backend)
            self._source, self._shown = key, None
        return self.assistant

    def _show(self, proposal: Proposal | None) -> None:
        layer = next((s["id"] for s in self.viewer.layers
                      if s["role"] == "mask" and s["name"] == LAYER), None)
        if proposal is None or proposal.bbox is None:
            if layer is not None and self._shown is not None:
                shape = tuple(s.stop - s.start for s in self._shown)
                self.viewer.update_mask(self._shown, np.zeros(shape, bool), layer=layer)
            self._shown = None
            return
        if layer is None:
            keep = self.viewer.draw_target
            a = self._session()
            layer = self.viewer.set_mask(np.zeros(a.shape, bool), a.affine, name=LAYER,
                                         color="green", opacity=0.45).id
            self.viewer.draw_target = keep
            self._shown = None
        box = union_bbox(self._shown, proposal.bbox)
        assert box is not None
        self.viewer.update_mask(box, proposal.full()[box], layer=layer)
        self._shown = proposal.bbox

    def _mode_changed(self) -> None:
        if self.mode != "off":
            self.viewer.drawing = False
        self.viewer.send({"type": "assist", "mode": self.mode})
        self._say(self.mode)

    def _on_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind in ("ready", "tools_ready"):
            self.viewer.send({"type": "assist", "mode": self.mode})
        elif kind == "assist_add":
            self._guard(lambda: self.add(str(content.get("kind", "point")),
                                         content.get("points") or [],
                                         bool(content.get("positive", True))))
        elif kind == "assist_key":
            action = content.get("action")
            self._guard(self.accept if action == "accept" else self.reset)

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except NoraError as exc:
            self._say(f"⚠ {exc}")

    def _say(self, note: str) -> None:
        a = self.assistant
        count = a.proposal.count if a is not None else 0
        self.status.value = (f"<span class='nora-assist-state' data-mode='{self.mode}' "
                             f"data-voxels='{count}'>assistant: {html.escape(note)}</span>")

"""The viewer reports clicks and the keys Python acts on (undo/redo, study stepping) – what
the ROI tool, the marker tool and the desk listen to. The page's side is viewer.js's
``{type: 'click'}`` and ``{type: 'key'}`` messages, fed here as the page sends them."""

from __future__ import annotations

import pytest

from nora_lab.widgets import Viewer
from nora_lab.widgets._events import ClickEvent, KeyEvent


@pytest.mark.parametrize(("key", "mods", "action"), [
    ("z", {"ctrl": True}, "undo"),
    ("z", {"ctrl": True, "shift": True}, "redo"),
    ("y", {"ctrl": True}, "redo"),
    ("ArrowDown", {}, "next"),
    ("ArrowUp", {}, "previous"),
    ("ArrowUp", {"ctrl": True}, ""),
    ("z", {}, ""),
])
def test_key_messages_become_key_events_with_an_action(key, mods, action):
    v = Viewer()
    seen = []
    v.on_key(seen.append)
    v._on_frontend_msg(v, {"type": "key", "key": key, **mods}, [])
    assert seen == [KeyEvent(key=key, ctrl=mods.get("ctrl", False), shift=mods.get("shift", False))]
    assert seen[0].action == action
    v.on_key(seen.append, remove=True)
    v._on_frontend_msg(v, {"type": "key", "key": key, **mods}, [])
    assert len(seen) == 1


def test_click_messages_become_click_events():
    v = Viewer()
    seen = []
    v.on_click(seen.append)
    v._on_frontend_msg(v, {"type": "click", "viewport": 1, "axis": "coronal",
                           "points": [[1.5, -2.0, 30.25]], "shift": True}, [])
    assert seen == [ClickEvent(viewport=1, axis="coronal", world=(1.5, -2.0, 30.25), shift=True)]
    v._on_frontend_msg(v, {"type": "click", "viewport": 0, "points": [[None, 1, 2]]}, [])
    v._on_frontend_msg(v, {"type": "click", "viewport": 0, "points": []}, [])
    assert len(seen) == 1                                   # no position, no event

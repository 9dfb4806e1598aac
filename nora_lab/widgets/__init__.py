"""nora_lab's Jupyter widgets – the UI layer; they call the layers below, never SQL.

Names are imported lazily so ``import nora_lab`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Viewer"]

_LAZY = {"Viewer": "nora_lab.widgets.viewer"}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.widgets.viewer import Viewer


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nora_lab.widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

"""Errors of a widget's actions go to its status line, never only to the callback log.

A click or key press runs in a comm callback: an exception raised there is logged where
nobody looks and the widget seems to do nothing. Every action of a widget runs through
:func:`guarded`; the status line then says what went wrong. A :class:`NoraError` says it
in its own words (it names the file, id or value and the fix); any other error — a bug,
or a library's error that reached us — is shown with its type and logged with its
traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from nora_lab.errors import NoraError

__all__ = ["error_text", "guarded"]

log = logging.getLogger("nora_lab.widgets")

T = TypeVar("T")


def error_text(exc: BaseException) -> str:
    """The status line's words for ``exc`` (non-NoraErrors are also logged)."""
    if isinstance(exc, NoraError):
        return str(exc)
    log.error("a widget action failed", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


def guarded(show: Callable[[str], Any], fn: Callable[..., T], *args: Any,
            **kwargs: Any) -> T | None:
    """``fn(*args, **kwargs)``; on an error, ``show`` its text and return None."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every error reaches the status line
        show(error_text(exc))
        return None

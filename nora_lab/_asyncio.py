"""Run a coroutine to completion from synchronous code, wherever that code runs."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, also where an event loop already runs in this thread.

    In a Jupyter kernel, or beside Playwright's sync API, a loop is running and
    ``asyncio.run`` refuses; the coroutine then runs on a fresh loop in a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nora-async") as pool:
        return pool.submit(asyncio.run, coro).result()

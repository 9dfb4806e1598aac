"""Renamed :mod:`nora_lab.archive.job_states` (``nora_lab.batch.jobs`` defines jobs).

Every name read through this module warns with :class:`DeprecationWarning`.
"""

from __future__ import annotations

import warnings
from typing import Any

from nora_lab.archive import job_states as _new


def __getattr__(name: str) -> Any:
    value = getattr(_new, name)  # AttributeError for a name neither module has
    warnings.warn(f"nora_lab.archive.jobs.{name} is deprecated; use "
                  f"nora_lab.archive.job_states.{name}", DeprecationWarning, stacklevel=2)
    return value

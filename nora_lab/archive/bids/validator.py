"""The official BIDS validator, run as a program (``bids-validator-deno`` from PyPI).

>>> validate_bids("/tmp/bids").errors          # doctest: +SKIP
[]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nora_lab.errors import ConfigError, ForeignDataError

__all__ = ["validate_bids", "BidsValidation", "validator_program"]

_PROGRAM = "bids-validator-deno"


@dataclass
class BidsValidation:
    """The validator's findings: ``errors`` and ``warnings`` (each a dict with ``code``,
    ``location``, …) and its ``summary``."""

    path: Path
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    def __str__(self) -> str:
        head = f"BIDS validation of {self.path}: {len(self.errors)} error(s), " \
            f"{len(self.warnings)} warning(s)"
        return "\n".join([head] + [f"  {e['code']}: {e.get('location', '')}"
                                   for e in self.errors])


def validator_program() -> str:
    """The validator's path: beside this Python (a venv), else on ``$PATH``.

    Raises
    ------
    ConfigError
        If it is not installed.
    """
    beside = Path(sys.executable).parent / _PROGRAM
    if beside.exists():
        return str(beside)
    found = shutil.which(_PROGRAM)
    if found is None:
        raise ConfigError(f"the BIDS validator {_PROGRAM!r} is not installed: "
                          "pip install bids-validator-deno")
    return found


def validate_bids(path: str | os.PathLike[str], *, timeout: float = 300) -> BidsValidation:
    """Run the official validator on a dataset folder.

    Raises
    ------
    ConfigError
        The validator is not installed.
    ForeignDataError
        It did not run to the end (the message has its output).
    """
    path = Path(path)
    if not path.is_dir():
        raise ForeignDataError(f"cannot validate {path}: not a folder")
    proc = subprocess.run([validator_program(), "--format", "json", str(path)],
                          capture_output=True, text=True, timeout=timeout, check=False)
    try:
        report = json.loads(proc.stdout)
        issues = report["issues"]["issues"]
    except (ValueError, KeyError, TypeError):
        raise ForeignDataError(f"the BIDS validator did not finish on {path} (exit "
                               f"{proc.returncode}): {proc.stderr.strip()[-500:]}") from None
    return BidsValidation(path, [i for i in issues if i.get("severity") == "error"],
                          [i for i in issues if i.get("severity") == "warning"],
                          report.get("summary", {}))

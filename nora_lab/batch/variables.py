"""Generic-job variables: ``$f1..$f9``, ``$o1..``, ``$p1..``, ``$s1..``, ``$n1..``.

As in NORA's generic BASH/Python jobs, a script names its arguments by a prefix and a
digit: ``f`` FILE (input file pattern), ``o`` OUT (output file), ``p`` PATHOUT (output
folder), ``s`` STRING, ``n`` NUMERIC. The variables found in the script text become the
job's arguments.

A resolved script is the original text with a block of assignments in front (bash
``f1='/abs/path'``; Python ``f1 = '/abs/path'``, and ``$f1`` in the Python text becomes
``f1``), so it runs as it is, by hand, and quoting (``"$f1"``) keeps its meaning.

>>> find("cp $f1 ${o1}; echo $HOME $1")
['f1', 'o1']
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from nora_lab.errors import BatchError

__all__ = ["PREFIXES", "find", "check_name", "bash_block", "python_block", "python_text",
           "env_value"]

#: variable prefix → argument kind
PREFIXES = {"f": "FILE", "o": "OUT", "p": "PATHOUT", "s": "STRING", "n": "NUMERIC"}

#: ``$f1`` / ``${f1}``, and lookalikes (``$f0``, ``$f12``, ``$x1``) to report
_VAR = re.compile(r"(?<!\\)\$(\{)?([A-Za-z])([0-9]+)(?(1)\}|(?![A-Za-z0-9_]))")
_NAME = re.compile(r"^([fopsn])([1-9])$")


def check_name(name: str, *, job: str = "job") -> str:
    """The kind of a generic-job variable name, or a :class:`BatchError` saying why not."""
    m = _NAME.match(name)
    if not m:
        raise BatchError(
            f"{job}: unknown variable {name!r}: generic-job variables are f1..f9 (FILE), "
            "o1..o9 (OUT), p1..p9 (PATHOUT), s1..s9 (STRING) and n1..n9 (NUMERIC)")
    return PREFIXES[m.group(1)]


def find(script: str, *, job: str = "job") -> list[str]:
    """The variables a script uses, sorted (``["f1", "o1"]``).

    Raises
    ------
    BatchError
        For a lookalike that is not a variable (``$f0``, ``$f12``, ``$x1``): these
        names are reserved, so a typo is caught before anything runs.
    """
    found = set()
    for m in _VAR.finditer(script):
        name = (m.group(2) + m.group(3))
        check_name(name, job=f"{job} (in the script: {m.group(0)!r})")
        found.add(name)
    return sorted(found, key=lambda v: ("fopsn".index(v[0]), v))


def env_value(value: Any) -> str:
    """A resolved value as one string (lists: space separated)."""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def bash_block(values: Mapping[str, Any]) -> str:
    """``name='value'`` lines for a bash script (several files: space separated)."""
    return "\n".join(f"{name}={shlex.quote(env_value(value))}" for name, value in values.items())


def python_block(values: Mapping[str, Any]) -> str:
    """``name = <literal>`` lines for Python (several files: a list)."""
    lines = []
    for name, value in values.items():
        if isinstance(value, (list, tuple)):
            value = [str(v) for v in value]
            value = value[0] if len(value) == 1 else value
        lines.append(f"{name} = {value!r}")
    return "\n".join(lines)


def python_text(script: str, rename: Mapping[str, str] | None = None) -> str:
    """The Python script with ``$f1``/``${f1}`` replaced by the plain name (or ``rename``)."""
    rename = rename or {}

    def sub(m: re.Match) -> str:
        name = m.group(2) + m.group(3)
        return rename.get(name, name)

    return _VAR.sub(sub, script)

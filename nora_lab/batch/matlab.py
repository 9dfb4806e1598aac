"""MATLAB/Octave jobs: NORA's third generic job kind, next to BASH and Python.

A MATLAB job's script uses the same variables as BASH and Python jobs (``$f1..$f9``
FILE, ``$o1..`` OUT, ``$p1..`` PATHOUT, ``$s1..`` STRING, ``$n1..`` NUMERIC). The
resolved script is the original with MATLAB assignments in front and ``$f1`` in the
text replaced by ``f1``::

    % nora_lab: job 1 (matlab:img) for P001#S1
    f1 = '/data/demo/P001/S1/t1/s001.nii';
    o1 = '/data/demo/P001/S1/derived/mean.txt';
    n1 = 2;
    img = niftiread(f1); ...

A FILE matching several files is a cell array of paths (one file: a char vector).

It runs with ``matlab -batch`` when MATLAB is on the ``PATH``, else with GNU Octave
(``octave-cli``, or ``octave --no-gui``), the free runtime (Debian: ``apt-get install
octave``). ``$NORA_MATLAB`` names the runtime to use instead (``octave``, ``matlab`` or a
path to either). Where neither is installed, the job fails before it starts with an error
saying so.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nora_lab.batch import variables
from nora_lab.errors import BatchError

__all__ = ["runtime", "argv", "block", "text"]


def runtime(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The MATLAB runtime a job runs with: ``("matlab" | "octave", executable)``.

    Parameters
    ----------
    env
        The environment to look in (default: this process's): ``$NORA_MATLAB`` first,
        then ``matlab``, ``octave-cli`` and ``octave`` on its ``PATH``.

    Raises
    ------
    BatchError
        If neither MATLAB nor GNU Octave can be found.
    """
    env = os.environ if env is None else env
    path = env.get("PATH")
    wanted = env.get("NORA_MATLAB", "").strip()
    names = [wanted] if wanted else ["matlab", "octave-cli", "octave"]
    for name in names:
        exe = shutil.which(name, path=path)
        if exe:
            return ("octave" if "octave" in Path(exe).name else "matlab"), exe
    if wanted:
        raise BatchError(f"$NORA_MATLAB={wanted!r} is not an executable on the PATH: set it to "
                         "'matlab', 'octave' or the full path of either, or unset it")
    raise BatchError("a MATLAB/Octave job needs MATLAB or GNU Octave, and neither is installed "
                     "here (no matlab, octave-cli or octave on the PATH): install Octave "
                     "(Debian: apt-get install -y octave) or put MATLAB's bin folder on the PATH")


def argv(script: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """The command that runs a resolved ``.m`` script (exit status 1 on a MATLAB error)."""
    kind, exe = runtime(env)
    if kind == "matlab":
        quoted = str(script).replace("'", "''")
        return [exe, "-batch", f"eval(fileread('{quoted}'))"]
    flags = ["--quiet", "--no-history"] + ([] if Path(exe).name == "octave-cli" else ["--no-gui"])
    return [exe, *flags, str(script)]


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def block(values: Mapping[str, Any]) -> str:
    """``name = <literal>;`` lines (several files: a cell array)."""
    lines = []
    for name, value in values.items():
        if isinstance(value, (list, tuple)):
            items = [str(v) for v in value]
            lit = _literal(items[0]) if len(items) == 1 else "{" + ", ".join(map(_literal,
                                                                                 items)) + "}"
        else:
            lit = _literal(value)
        lines.append(f"{name} = {lit};")
    return "\n".join(lines)


def text(script: str) -> str:
    """The script with ``$f1``/``${f1}`` replaced by the plain variable name."""
    return variables.python_text(script)

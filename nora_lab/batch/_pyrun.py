"""Run a built-in job's callable in its own process: ``python -m nora_lab.batch._pyrun FILE.pkl``.

The file holds ``{"func": <cloudpickled callable>, "kwargs": {...}, "sys_path": [...]}``
as written by :func:`nora_lab.batch.commands.render`. Exit status 0 on return; 1 with the
traceback on stderr (the study's log) when the callable raises; a :class:`NoraError`'s
first line also goes to ``JOB.error``, which the runner adds to the study's error.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import traceback
from pathlib import Path

from nora_lab.errors import NoraError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m nora_lab.batch._pyrun JOB.pkl", file=sys.stderr)
        return 2
    with open(argv[0], "rb") as fh:
        payload = pickle.load(fh)
    for p in reversed(payload.get("sys_path") or []):
        if p not in sys.path:
            sys.path.insert(1, p)
    try:
        func = pickle.loads(payload["func"])
        result = func(**payload["kwargs"])
    except Exception as exc:  # noqa: BLE001 - the traceback is the job's error report
        traceback.print_exc()
        if isinstance(exc, NoraError):  # its message is the cause, for the jobs table
            with contextlib.suppress(OSError):
                Path(argv[0]).with_suffix(".error").write_text(
                    (str(exc).splitlines() or [""])[0] + "\n")
        print(f"nora_lab: job {payload.get('label')!r} raised (traceback above)", file=sys.stderr)
        return 1
    if result is not None:
        print(f"nora_lab: {payload.get('label')} returned {result!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m nora_lab.demo [HOME]``: build (or complete) the demo archive of ``make lab``.

HOME defaults to ``$NORA_HOME`` (``~/.nora_lab``). Re-running is a no-op.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nora_lab import config

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Build the demo archive in ``argv[0]`` (default ``$NORA_HOME``); 0 on success."""
    from nora_lab.demo.build import build_demo

    args = sys.argv[1:] if argv is None else argv
    home = Path(args[0]).resolve() if args else config.nora_home()
    print(build_demo(home))
    print(f"demo archive ready in {home} (NORA_HOME={home})")
    return 0

"""Build the demo archive of ``make lab``: ``python -m nora_lab.demo [HOME]``.

The demo project "demo" is imported through the real DICOM import path from DICOM that
a fresh machine installs with the package's dependencies (the enhanced multi-frame
Philips MPRAGE in nibabel's test data, pydicom's test files). Re-running is a no-op.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nora_lab import config


def main(argv: list[str] | None = None) -> int:
    from nora_lab.archive.dicom.demo import build_demo_archive

    args = sys.argv[1:] if argv is None else argv
    home = Path(args[0]).resolve() if args else config.nora_home()
    report = build_demo_archive(home)
    print(report)
    print(f"demo archive ready in {home} (NORA_HOME={home})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``nora -p PROJECT --import PATH``: NORA's import flags on the command line.

Plugged into :mod:`nora_lab.cli` as a layer module (``add_arguments`` / ``run``)::

    nora -p demo --import /data/incoming/exam.zip
    nora -p demo --import /data/incoming --pattern "(?<studies_id>[\\w\\-]+)/(?<patients_id>\\w+)$"
    nora -p demo --import /data/x --patients_id P001 --studies_id S1 --extrafiles_filter nii,txt

The report is printed on stdout; the exit code is non-zero (through
:class:`~nora_lab.errors.DicomImportError`) when a series could not be imported.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_arguments", "run", "add_import_arguments", "run_import"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add NORA's ``--import`` flags (and nora_lab's additions) to ``parser``."""
    g = parser.add_argument_group("IMPORT")
    g.add_argument("--import", dest="import_src", nargs="+", metavar="SRCPATH",
                   help="imports dicoms located in SRCPATH (folder, zip or files) to the "
                        "given project")
    g.add_argument("--autoexec_queue", nargs="?", const="DEFAULT", metavar="QUEUE",
                   help="with --import: initiate the autoexecuter for imported studies "
                        "(DEFAULT: the default autoexecution queue)")
    g.add_argument("--handle_job_result", action="store_true",
                   help="with --import: print DONE when ready")
    g.add_argument("--extrafiles_filter", metavar="EXTS",
                   help="with --import: comma-separated extensions of non-DICOM files to add "
                        "to the patient folder (e.g. nii,hdr,img)")
    g.add_argument("--patients_id", metavar="PIZ",
                   help="with --import: overwrite patients_id of imported data with PIZ")
    g.add_argument("--studies_id", metavar="SID",
                   help="with --import: overwrite studies_id of imported data with SID")
    g.add_argument("--pattern", metavar="REGEX",
                   help="with --import: REGEX applied on the srcpath of dicoms to overwrite "
                        "patients_id/studies_id, e.g. "
                        "\"(?<studies_id>[\\w\\-]+)\\/(?<patients_id>\\w+)$\"")
    g.add_argument("--keep_dicom", action="store_true", default=None,
                   help="with --import: keep each series' original DICOMs (dicom.tar.gz)")
    g.add_argument("--workers", type=int, metavar="N",
                   help="with --import: series converted at once (default: all cores)")


def run(args: argparse.Namespace, archive: Any) -> bool:
    """Carry out ``--import`` if given; True when it did something."""
    if not getattr(args, "import_src", None):
        return False
    if not args.project:
        from nora_lab.errors import ConfigError

        raise ConfigError("--import needs a project: nora -p NAME --import SRCPATH")
    return run_import(args, archive.project(args.project))


def run_import(args: argparse.Namespace, project: Any) -> bool:
    """Import ``args.import_src`` into ``project``, print the report."""
    from nora_lab.archive.dicom.importer import import_dicom, import_options
    from nora_lab.errors import DicomImportError

    sources = args.import_src
    token = import_options.set({"autoexec_queue": args.autoexec_queue,
                                "handle_job_result": bool(args.handle_job_result)})
    try:
        report = import_dicom(
            project, sources[0] if len(sources) == 1 else sources,
            patients_id=args.patients_id, studies_id=args.studies_id, pattern=args.pattern,
            extrafiles_filter=args.extrafiles_filter, keep_dicom=args.keep_dicom,
            progress=sys.stderr.isatty(), workers=args.workers)
    finally:
        import_options.reset(token)
    print(report)
    if args.handle_job_result:
        print("DONE")
    failed = report.count("failed") + report.count("partial")
    if failed:
        raise DicomImportError(f"{failed} series of {report.source} could not be (fully) "
                               "imported; see the report above")
    return True


#: the names the issue asked for
add_import_arguments = add_arguments

"""``nora`` flags for data in and out: adopt a folder tree, BIDS, Slicer scenes, DICOM SEG.

Plugged into :mod:`nora_lab.cli` as a layer module (``add_arguments`` / ``run``)::

    nora -p lab --adopt /data/old --adopt_pattern "{subject}/{study}/{series}" --dryrun
    nora -p lab --adopt /data/old --adopt_mode link
    nora -p lab --bids_export /data/bids_out [--filter subject=STAG:control] [--force]
    nora -p lab --bids_import /data/bids_in
    nora -p lab --study P01#1 --mrb_import scene.mrb
    nora -p lab --study P01#1 --seg_nrrd_export rois.seg.nrrd
    nora -p lab --study P01#1 --seg_import seg.dcm
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_arguments", "run"]

_FLAGS = ("adopt", "bids_export", "bids_import", "mrb_import", "seg_nrrd_export", "seg_import")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the data in/out flags to ``parser``."""
    g = parser.add_argument_group("DATA IN AND OUT")
    g.add_argument("--adopt", metavar="FOLDER",
                   help="registers an existing folder tree in the project (with --dryrun: "
                        "only shows what would be registered and what skipped)")
    g.add_argument("--adopt_pattern", default="{subject}/{study}/{series}", metavar="PATTERN",
                   help="with --adopt: maps folders to {subject}/{study}/{series} (or a "
                        "regex with (?<patients_id>…)/(?<studies_id>…) groups)")
    g.add_argument("--adopt_mode", default="copy", choices=("copy", "link", "inplace"),
                   help="with --adopt: copy or hard-link into the project, or register the "
                        "project folder in place")
    g.add_argument("--bids_export", metavar="FOLDER",
                   help="exports the project (or the studies of --filter) as a BIDS dataset")
    g.add_argument("--bids_import", metavar="FOLDER", help="imports a BIDS dataset")
    g.add_argument("--mrb_import", metavar="MRB",
                   help="imports a 3D Slicer scene (.mrb) into the study of --study")
    g.add_argument("--seg_nrrd_export", metavar="FILE",
                   help="writes the ROIs of the study of --study as a Slicer .seg.nrrd")
    g.add_argument("--seg_import", metavar="SEG",
                   help="imports a DICOM SEG as ROIs into the study of --study")


def run(args: argparse.Namespace, archive: Any) -> bool:
    """Carry out the data in/out flags given; True when one did something."""
    given = [f for f in _FLAGS if getattr(args, f, None)]
    if not given:
        return False
    from nora_lab.errors import ConfigError

    if not args.project:
        raise ConfigError(f"--{given[0]} needs a project: nora -p NAME --{given[0]} …")
    proj = archive.project(args.project)
    for flag in given:
        if flag in ("mrb_import", "seg_nrrd_export", "seg_import") and not args.study:
            raise ConfigError(f"--{flag} needs a study: --study SUBJECT#STUDY")
        print(_COMMANDS[flag](args, proj))
    return True


def _adopt(args: argparse.Namespace, proj: Any) -> str:
    from nora_lab.archive.adopt import adopt

    table = adopt(proj, args.adopt, args.adopt_pattern, mode=args.adopt_mode,
                  dry_run=bool(args.dryrun))
    counts = table.action.value_counts().to_dict()
    todo = counts.get("register", 0)
    head = (f"{todo} to register" if args.dryrun else f"{todo} registered") + \
        f", {counts.get('already registered', 0)} already registered, " \
        f"{counts.get('skip', 0)} skipped"
    rows = table[table.action != "already registered"][["path", "psid", "relpath", "action",
                                                        "reason"]]
    return head + ("\n" + rows.to_string(index=False) if len(rows) else "")


def _bids_export(args: argparse.Namespace, proj: Any) -> str:
    from nora_lab.archive.bids import export_bids

    filters = dict(f.split("=", 1) for f in args.filter) if args.filter else None
    return str(export_bids(proj, args.bids_export, filters=filters, overwrite=args.force))


def _bids_import(args: argparse.Namespace, proj: Any) -> str:
    from nora_lab.archive.bids import import_bids

    return str(import_bids(proj, args.bids_import))


def _mrb_import(args: argparse.Namespace, proj: Any) -> str:
    from nora_lab.archive.slicer import import_mrb

    return import_mrb(proj, args.study, args.mrb_import).to_string(index=False)


def _seg_nrrd_export(args: argparse.Namespace, proj: Any) -> str:
    from nora_lab.archive.slicer import export_seg_nrrd

    return str(export_seg_nrrd(proj, args.study, args.seg_nrrd_export))


def _seg_import(args: argparse.Namespace, proj: Any) -> str:
    from nora_lab.archive.seg_import import import_seg

    return import_seg(proj, args.study, args.seg_import).to_string(index=False)


_COMMANDS = {"adopt": _adopt, "bids_export": _bids_export, "bids_import": _bids_import,
             "mrb_import": _mrb_import, "seg_nrrd_export": _seg_nrrd_export,
             "seg_import": _seg_import}

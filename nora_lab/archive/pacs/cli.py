"""NORA's PACS and DICOM node on the command line (a layer module of :mod:`nora_lab.cli`).

::

    nora --pacs-nodes                                     # the configured nodes
    nora --pacs-add PACS1 ORTHANC pacs.example.org 4242   # ($NORA_HOME/pacs.yaml)
    nora --pacs-echo PACS1
    nora --pacs-find PACS1 --level study --query patient_name='Doe^J*' --query study_date=2020
    nora -p demo --pacs-pull PACS1 --query patient_id=12345 --query modality=MR --dryrun
    nora -p demo --pacs-pull PACS1 --uids 1.2.3.4 1.2.3.5 [--get]
    nora -p demo --pacs-push PACS1 --study 'P001#S1'      # the study's kept originals
    nora --pacs-push PACS1 seg.dcm results/               # files, folders, dicom.tar.gz
    nora -p demo --node start --aet NORA --port 11112 --quiet_period 10
    nora --node status | nora --node import | nora --node release STUDYUID [SERIESUID]

Tables are printed as JSON records (``--csv``: CSV). Exit code 1 when a peer refuses, a
pull leaves series incomplete or failed, or a push is not fully sent.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_arguments", "run"]

NODE_ACTIONS = ("start", "status", "import", "release")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the PACS flags to ``parser``."""
    g = parser.add_argument_group("PACS AND DICOM NODE")
    g.add_argument("--pacs-nodes", action="store_true",
                   help="lists the configured PACS nodes ($NORA_HOME/pacs.yaml)")
    g.add_argument("--pacs-add", nargs=4, metavar=("NAME", "AET", "HOST", "PORT"),
                   help="adds (or replaces) a PACS node in the configuration")
    g.add_argument("--pacs-remove", metavar="NAME", help="removes a PACS node")
    g.add_argument("--pacs-echo", metavar="NAME", help="C-ECHO: is the node there?")
    g.add_argument("--pacs-find", metavar="NAME",
                   help="C-FIND on the node (with --level and --query)")
    g.add_argument("--pacs-pull", metavar="NAME",
                   help="pulls studies (--uids, or --query matches) into the project "
                        "(C-MOVE to our node; --get: C-GET); --dryrun shows the plan")
    g.add_argument("--pacs-push", nargs="+", metavar=("NAME", "PATH"),
                   help="C-STOREs files, folders, dicom.tar.gz to the node; without PATH "
                        "the kept originals of --study in the project")
    g.add_argument("--level", choices=("patient", "study", "series", "image"),
                   default="study", help="with --pacs-find: what one row is (default study)")
    g.add_argument("--query", action="append", default=[], metavar="KEY=VALUE",
                   help="with --pacs-find/--pacs-pull: a matching key, NORA-style "
                        "(patient_name='Doe^J*', patient_id, study_date=20200101-20201231, "
                        "modality, study_description, series_description, or a DICOM "
                        "keyword)")
    g.add_argument("--uids", nargs="+", metavar="UID",
                   help="with --pacs-pull: StudyInstanceUIDs to pull")
    g.add_argument("--series-uids", nargs="+", metavar="UID",
                   help="with --pacs-pull: SeriesInstanceUIDs to pull")
    g.add_argument("--get", action="store_true", help="with --pacs-pull: use C-GET")
    if "--dryrun" not in parser._option_string_actions:
        g.add_argument("--dryrun", action="store_true",
                       help="with --pacs-pull: show what would be pulled")
    g.add_argument("--node", nargs="+", metavar=("ACTION", "UID"),
                   help="our DICOM node: start (serve until stopped), status (what waits), "
                        "import (what is not held, now), release STUDYUID [SERIESUID]")
    g.add_argument("--aet", help="with --node start: its AE title")
    g.add_argument("--port", type=int, help="with --node start: its TCP port")
    g.add_argument("--quiet_period", type=float, metavar="SECONDS",
                   help="with --node start: import a study after this long without arrivals")
    g.add_argument("--incoming", metavar="DIR", help="with --node: the incoming area")
    g.add_argument("--allow", metavar="AETS",
                   help="with --node start: accept only these calling AE titles (comma-separated)")


def _print(df: Any, args: argparse.Namespace) -> None:
    if getattr(args, "csv", False):
        df.to_csv(sys.stdout, index=False)
    else:
        print(df.to_json(orient="records", date_format="iso", default_handler=str))


def _criteria(items: list[str]) -> dict[str, str]:
    from nora_lab.errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--query {item!r}: expected KEY=VALUE, e.g. "
                              "patient_name='Doe^J*'")
        out[key.strip()] = value.strip()
    return out


def run(args: argparse.Namespace, archive: Any) -> bool:
    """Carry out the PACS flags given; True when one was."""
    if not any(getattr(args, a, None) for a in ("pacs_nodes", "pacs_add", "pacs_remove",
                                                "pacs_echo", "pacs_find", "pacs_pull",
                                                "pacs_push", "node")):
        return False
    from nora_lab.archive.pacs import query as f
    from nora_lab.archive.pacs.nodes import pacs_config
    from nora_lab.errors import ConfigError

    cfg = pacs_config(**({"incoming": args.incoming} if args.incoming else {}))
    did = False
    if args.pacs_add:
        name, aet, host, port = args.pacs_add
        cfg.add(name, aet, host, port, save=True)
        print(f"added PACS node {name} ({aet}@{host}:{port}) to {cfg.path}")
        did = True
    if args.pacs_remove:
        cfg.remove(args.pacs_remove, save=True)
        did = True
    if args.pacs_nodes:
        _print(cfg.to_frame(), args)
        did = True
    if args.pacs_echo:
        seconds = f.echo(args.pacs_echo, config=cfg)
        print(f"C-ECHO {args.pacs_echo}: ok ({seconds * 1000:.0f} ms)")
        did = True
    if args.pacs_find:
        _print(f.find(args.pacs_find, args.level, config=cfg, **_criteria(args.query)), args)
        did = True
    if args.pacs_pull:
        _pull(args, archive, cfg)
        did = True
    if args.pacs_push:
        _push(args, archive, cfg)
        did = True
    if args.node:
        action, *rest = args.node
        if action not in NODE_ACTIONS:
            raise ConfigError(f"--node {action!r}: expected one of {', '.join(NODE_ACTIONS)}")
        _node(action, rest, args, archive, cfg)
        did = True
    return did


def _pull(args: argparse.Namespace, archive: Any, cfg: Any) -> None:
    from nora_lab.archive.pacs.retrieve import pull
    from nora_lab.errors import ConfigError, PacsError

    if not args.project:
        raise ConfigError("--pacs-pull needs a project: nora -p NAME --pacs-pull NODE …")
    criteria = _criteria(args.query)
    if not (args.uids or args.series_uids or criteria):
        raise ConfigError("--pacs-pull needs what to pull: --uids STUDYUID…, "
                          "--series-uids SERIESUID…, or --query KEY=VALUE")
    studies = series = None
    if args.series_uids:
        series = args.series_uids
    elif args.uids:
        studies = args.uids
    else:
        from nora_lab.archive.pacs.query import find_series

        series = find_series(args.pacs_pull, config=cfg, **criteria)
        if series.empty:
            raise PacsError(f"no series at {args.pacs_pull!r} match {criteria}")
    dry = bool(getattr(args, "dryrun", False))
    df = pull(args.pacs_pull, archive.project(args.project), studies=studies, series=series,
              method="get" if args.get else None, dry_run=dry,
              progress=sys.stderr.isatty(), config=cfg)
    _print(df, args)
    if not dry:
        bad = df[~df["status"].isin(["imported", "already imported"])]
        if len(bad):
            raise PacsError(f"{len(bad)} series were not (fully) imported: "
                            + "; ".join(f"{r.SeriesInstanceUID}: {r.status} {r.reason or ''}"
                                        for r in bad.itertuples())[:2000])


def _push(args: argparse.Namespace, archive: Any, cfg: Any) -> None:
    from nora_lab.archive.pacs.store import push, push_study
    from nora_lab.errors import ConfigError, PacsError

    name, *paths = args.pacs_push
    if paths:
        df = push(name, paths, progress=sys.stderr.isatty(), config=cfg)
    else:
        if not (args.project and args.study):
            raise ConfigError("--pacs-push NODE without files pushes a study's kept "
                              "originals: nora -p NAME --pacs-push NODE --study PSID")
        df = push_study(name, archive.project(args.project), args.study,
                        progress=sys.stderr.isatty(), config=cfg)
    _print(df, args)
    bad = df[df["status"] != "sent"]
    if len(bad):
        raise PacsError(f"{len(bad)} of {len(df)} instance(s) not sent to {name!r}: "
                        f"{bad['reason'].dropna().iloc[0] if bad['reason'].notna().any() else ''}")


def _node(action: str, rest: list[str], args: argparse.Namespace, archive: Any,
          cfg: Any) -> None:
    from nora_lab.archive.pacs.scp import DicomNode
    from nora_lab.errors import ConfigError

    settings = {"aet": args.aet, "port": args.port, "quiet_period": args.quiet_period,
                "project": args.project,
                "allowed_calling_aets": [a.strip() for a in args.allow.split(",")
                                         if a.strip()] if args.allow else None}
    if action == "status":
        from nora_lab.archive.pacs.incoming import Incoming

        _print(Incoming(cfg.local.incoming_dir()).pending(), args)
        return
    if action == "release":
        if not rest:
            raise ConfigError("--node release needs a StudyInstanceUID [SeriesInstanceUID]")
        node = DicomNode(archive, config=cfg, auto_import=False, **settings)
        n = node.release(rest[0], rest[1] if len(rest) > 1 else None)
        print(f"released {n} held series")
        return
    node = DicomNode(archive, config=cfg, auto_import=action == "start", **settings)
    if action == "import":
        for report in node.import_now():
            print(report)
        return

    def show(report: Any) -> None:
        print(report, flush=True)

    node.on_import.append(show)
    node.start()
    s = node.settings
    routes = ", ".join(f"{k}->{v}" for k, v in s.projects.items())
    print(f"DICOM node {s.aet} on {s.host}:{node.port}: importing into "
          f"{s.project or '-'}{' (' + routes + ')' if routes else ''} after "
          f"{s.quiet_period:g} s without arrivals; incoming {node.incoming.root}", flush=True)
    node.serve_forever()

"""The ``nora`` command: NORA's backend flags, so a NORA user's scripts keep working.

Every command refers to the project given by ``-p/--project``. Errors are one line on
stderr and a non-zero exit code (1: the archive refused, 2: bad usage).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nora_lab import __version__
from nora_lab.errors import ArchiveError, NoraError, NotFoundError

__all__ = ["main", "build_parser"]

DESCRIPTION = """\
NORA - backend

usage: nora [--parameter] [value]

  -p/--project NAME refers all following commands to this project.
  The archive is $NORA_HOME (default ~/.nora_lab) or the database in $NORA_DB,
  opened as you: your PostgreSQL login role, or the OS account that owns the SQLite file.
"""

EPILOG = """\
file patterns: a combination of subfolders, file name and wildcards, relative to the
study folder: '*' is any run of characters, '_' exactly one; every pattern ends in an
implicit '*'. Example: t1*/s0__.nii. A pattern without '/' matches the file name in any
folder.

filter bars (--filter COLUMN=TEXT): terms separated by spaces are OR-ed, '&' ANDs
groups; special attributes STAG: PTAG: FTAG: JOB:(q|r|e) SDESC:.

examples:
  nora -p demo --createproject demo
  nora -p demo -s 't1*/s0*.nii' --json
  nora -p demo --addtag reviewed -s 't1*/s0*.nii' --filter 'files=STAG:control'
  nora -p demo -a $OUT --addtag mytagname          (inside a job: tag an output)
  nora -p demo --exportmeta '*' 'META/radio*.json' --keys '*.mask.volume'
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (NORA's flags, plus nora_lab's additions)."""
    ap = argparse.ArgumentParser(prog="nora", description=DESCRIPTION, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"nora_lab {__version__}")
    ap.add_argument("-p", "--project", metavar="NAME", help="all commands refer to this project")

    m = ap.add_argument_group("MANAGEMENT")
    m.add_argument("-c", "--createproject", nargs="+", metavar=("NAME", "MODULE"),
                   help="creates a project with NAME (MODULE: 'real' or 'pseudonym' naming)")
    m.add_argument("--projects", action="store_true", help="lists the projects you can see")
    m.add_argument("-q", "--sql", metavar="STATEMENT",
                   help="executes an SQL statement, result as JSON (read-only snapshot of "
                        "your projects unless you are an archive admin)")
    m.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="with --sql: stop the statement after this many seconds (60)")
    m.add_argument("--csv", action="store_true", help="with --sql/--select: CSV output")
    m.add_argument("-a", "--add", nargs="+", metavar="FILE",
                   help="adds files to the project: files already inside a study folder are "
                        "registered; others need --study PSID (and optionally --dest)")
    m.add_argument("--study", metavar="PSID", default=os.environ.get("NORA_PSID"),
                   help="the study (patients_id#studies_id) for --add/--out/--pathout "
                        "(default $NORA_PSID, set inside batch jobs)")
    m.add_argument("--dest", metavar="RELPATH",
                   help="with --add: folder/name inside the study (a folder: 'res/')")
    m.add_argument("--addtag", metavar="TAGS", help="tag1,tag2,...: tags the added/selected files")
    m.add_argument("--rmtag", metavar="TAGS",
                   help="tag1,tag2,...: removes tags from selected files")
    m.add_argument("-d", "--del", dest="delete", nargs="+", metavar="FILE", help="deletes files")
    m.add_argument("-dp", "--del_pat", nargs="+", metavar="ID",
                   help="deletes patients (patient_id) or studies (patients_id#studies_id) "
                        "with all their files; needs --force")
    m.add_argument("--force", action="store_true",
                   help="with --del_pat: really delete (without it nothing is deleted)")
    m.add_argument("-o", "--out", metavar="FILEPATTERN",
                   help="computes the absolute output file path in --study")
    m.add_argument("-pa", "--pathout", metavar="FILEPATTERN",
                   help="computes the absolute output folder path in --study (created)")
    m.add_argument("-s", "--select", metavar="FILEPATTERN",
                   help="returns files matching the file pattern")
    m.add_argument("-j", "--json", action="store_true", help="with --select: JSON output")
    m.add_argument("--byfilename", action="store_true",
                   help="with --select --json: files grouped by file name")
    m.add_argument("--filter", action="append", default=[], metavar="COLUMN=TEXT",
                   help="restricts --select/--exportmeta/--studies to studies matching a "
                        "filter bar (columns: subject, study, date, description, files)")
    m.add_argument("--studies", action="store_true", help="lists the studies (with --filter)")
    m.add_argument("--adduser", metavar="USER", help="registers a user (archive admins)")
    m.add_argument("--admin", action="store_true", help="with --adduser: an archive admin")
    m.add_argument("--pgpass", metavar="HOST[:PORT]",
                   help="with --adduser (as root, PostgreSQL): a fresh password for the user's "
                        "role, written into their own ~/.pgpass, for labs on other nodes")
    m.add_argument("--grant", nargs=2, metavar=("USER", "ROLE"),
                   help="gives USER the ROLE reader|editor|admin|none on the project")
    m.add_argument("--identity", action="store_true",
                   help="with --grant: may see real identities of a pseudonymized project")
    m.add_argument("--fs-sync", dest="fs_sync", action="store_true",
                   help="with -p (as root): the project folder's groups and ACLs follow its rights")
    m.add_argument("--fsck", action="store_true",
                   help="integrity check: rows without files, files without rows, checksums")
    m.add_argument("--repair", action="store_true", help="with --fsck: fix what can be fixed")

    o = ap.add_argument_group("OTHER")
    o.add_argument("--exportmeta", nargs=2, metavar=("FILEPATTERN", "JSONNAME"),
                   help="exports meta data of JSON files matching JSONNAME in the studies "
                        "having files matching FILEPATTERN, as CSV")
    o.add_argument("--dryrun", action="store_true",
                   help="show what would be done (batch launches, PACS pulls) without doing it")
    o.add_argument("--keys", metavar="KEYS",
                   help="with --exportmeta: comma-separated dot-separated key sequences "
                        "(first key: the JSON file's name; '*' wildcards)")
    _extend_parser(ap)
    return ap


#: Other layers' command-line modules. Each defines ``add_arguments(parser)`` and
#: ``run(args, archive) -> bool`` (True when it did something). Keep them light to import.
LAYER_CLIS = ("nora_lab.archive.dicom.cli", "nora_lab.archive.pacs.cli", "nora_lab.batch.cli",
              "nora_lab.archive.exchange_cli")


def _layer_modules() -> list:
    import importlib

    mods = []
    for name in LAYER_CLIS:
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the layer exists but is broken: say so
                raise
    return mods


def _extend_parser(ap: argparse.ArgumentParser) -> None:
    for mod in _layer_modules():
        mod.add_arguments(ap)


def _open_project(args, arc):
    if not args.project:
        raise _Usage("this command needs a project: -p NAME")
    return arc.project(args.project)


class _Usage(Exception):
    pass


def _tags(text: str | None) -> list[str]:
    return [t for t in (text or "").split(",") if t.strip()]


def _filters(items: Sequence[str]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for item in items:
        col, sep, text = item.partition("=")
        if not sep:
            raise _Usage(f"--filter {item!r}: expected COLUMN=TEXT, e.g. files='t1*/s0*.nii'")
        out[col.strip()] = (out.get(col.strip(),
                                    "") + " & " + text).strip(" &") if col.strip() in out else text
    return out or None


def _print_frame(df, as_csv: bool) -> None:
    if as_csv:
        df.to_csv(sys.stdout, index=False)
    else:
        print(df.to_json(orient="records", date_format="iso", default_handler=str))


def _flatten(obj, prefix: str) -> dict[str, object]:
    out: dict[str, object] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}"))
    else:
        out[prefix] = obj
    return out


def _exportmeta(proj, pattern: str, jsonname: str, keys: str | None, filters) -> str:
    from nora_lab.archive.patterns import FilePattern

    flt = dict(filters or {})
    flt["files"] = (flt.get("files",
                            "") + " & " + pattern).strip(" &") if pattern.strip("*") else flt.get(
                                "files", "")
    studies = proj.studies(flt)
    jpat = FilePattern(jsonname)
    wanted = [k.strip() for k in keys.split(",")] if keys else None
    rows = []
    for psid in studies["psid"]:
        row: dict[str, object] = {"psid": psid}
        for path in proj.resolve(psid, jsonname):
            if not path.name.lower().endswith(".json") or not jpat.matches(
                    path.relative_to(proj.study_dir(psid)).as_posix()):
                continue
            try:
                data = json.loads(path.read_text())
            except ValueError as exc:
                raise ArchiveError(f"{path}: not valid JSON ({exc})") from exc
            flat = _flatten(data, path.name[: -len(".json")])
            if wanted is not None:
                flat = {k: v
                        for k, v in flat.items() if any(fnmatch.fnmatchcase(k, w) for w in wanted)}
            row.update(flat)
        rows.append(row)
    cols = ["psid"] + sorted({k for r in rows for k in r} - {"psid"})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# --- commands: each (args, archive or project, filters) -> exit code or None ----------------


def _adduser(args: argparse.Namespace, arc: Any) -> None:
    arc.add_user(args.adduser, admin=args.admin)
    if args.pgpass:
        host, _, port = args.pgpass.partition(":")
        if not host or (port and not port.isdigit()):
            raise _Usage(f"--pgpass {args.pgpass!r}: expected HOST or HOST:PORT")
        print(arc.issue_pgpass(args.adduser, host, int(port or 5432)))


def _fs_sync(args: argparse.Namespace, arc: Any) -> None:
    if not args.project:
        raise _Usage("--fs-sync needs a project: -p NAME --fs-sync")
    done = arc.fs_sync(args.project)
    print(", ".join(f"{k}: {v}" for k, v in done.items()))


def _createproject(args: argparse.Namespace, arc: Any) -> None:
    name, *module = args.createproject
    arc.create_project(name, naming=module[0] if module else "real", exist_ok=True)
    args.project = args.project or name


def _projects(args: argparse.Namespace, arc: Any) -> None:
    _print_frame(arc.projects(), args.csv)


def _sql(args: argparse.Namespace, arc: Any) -> None:
    _print_frame(arc.sql(args.sql, timeout=args.timeout), args.csv)


def _grant(args: argparse.Namespace, arc: Any) -> None:
    if not args.project:
        raise _Usage("--grant needs a project: -p NAME --grant USER ROLE")
    arc.grant(args.project, args.grant[0], args.grant[1], identity=args.identity)


def _add(args: argparse.Namespace, proj: Any, filters: Any) -> None:
    added = []
    for f in args.add:
        p = Path(f).resolve()
        if proj.root.resolve() in p.parents:
            added.append(proj.register(p, tags=_tags(args.addtag)))
            continue
        if not args.study:
            raise _Usage(f"{f} is outside project {proj.name!r}: give --study PSID")
        dest = args.dest or p.name
        if dest.endswith("/") or (proj.study_dir(args.study) / dest).is_dir():
            dest = f"{dest.rstrip('/')}/{p.name}"  # --dest names a folder
        added.append(proj.add_file(p, args.study, dest, tags=_tags(args.addtag)))
    for p in added:
        print(p)


def _delete(args: argparse.Namespace, proj: Any, filters: Any) -> None:
    for f in args.delete:
        proj.remove_file(Path(f).resolve())


def _del_pat(args: argparse.Namespace, proj: Any, filters: Any) -> None:
    if not args.force:
        raise _Usage(f"--del_pat deletes {', '.join(args.del_pat)} with all their files from "
                     f"project {proj.name!r}; nothing was deleted: add --force to do it")
    for ident in args.del_pat:
        if "#" in ident:
            proj.delete_study(ident)
        else:
            proj.delete_subject(ident)


def _study_of(args: argparse.Namespace) -> str:
    if not args.study:
        raise _Usage("--out/--pathout need the study: --study PSID (or $NORA_PSID)")
    return str(args.study)


def _out(args: argparse.Namespace, proj: Any, filters: Any) -> None:
    print(proj.out_path(_study_of(args), args.out))


def _pathout(args: argparse.Namespace, proj: Any, filters: Any) -> None:
    path = proj.out_path(_study_of(args), args.pathout)
    path.mkdir(parents=True, exist_ok=True)
    print(path)


def _select(args: argparse.Namespace, proj: Any, filters: Any) -> None:
    df = proj.files(args.select, filters=filters,
                    psid=args.study if args.study and not filters else None)
    if args.addtag:
        proj.tag_files(df["path"], _tags(args.addtag))
    if args.rmtag:
        proj.untag_files(df["path"], _tags(args.rmtag))
    if args.addtag or args.rmtag:
        return
    paths = df["path"].tolist()
    if args.json and args.byfilename:
        grouped: dict[str, list[str]] = {}
        for p in paths:
            grouped.setdefault(Path(p).name, []).append(p)
        print(json.dumps(grouped))
    elif args.json:
        print(json.dumps(paths))
    elif args.csv:
        _print_frame(df.drop(columns=["tags"]), True)
    else:
        print("\n".join(paths))


def _studies(args: argparse.Namespace, proj: Any, filters: Any) -> None:
    _print_frame(proj.studies(filters), args.csv)


def _export(args: argparse.Namespace, proj: Any, filters: Any) -> None:
    pattern, jsonname = args.exportmeta
    sys.stdout.write(_exportmeta(proj, pattern, jsonname, args.keys, filters))


def _fsck(args: argparse.Namespace, proj: Any, filters: Any) -> int:
    from nora_lab.archive.fsck import fsck

    rep = fsck(proj, repair=args.repair)
    print(rep)
    return 0 if rep.ok else 1  # after --repair: something could not be repaired


#: Archive commands, by their flag's attribute, in the order they run.
ARCHIVE_COMMANDS: tuple[tuple[str, Callable[[argparse.Namespace, Any], None]], ...] = (
    ("adduser", _adduser), ("createproject", _createproject), ("projects", _projects),
    ("sql", _sql), ("grant", _grant), ("fs_sync", _fs_sync),
)
#: Commands on the project of ``-p``, in the order they run (after the layers' commands).
PROJECT_COMMANDS: tuple[tuple[str, Callable[..., int | None]], ...] = (
    ("add", _add), ("delete", _delete), ("del_pat", _del_pat), ("out", _out),
    ("pathout", _pathout), ("select", _select), ("studies", _studies),
    ("exportmeta", _export), ("fsck", _fsck),
)


def run(args: argparse.Namespace) -> int:
    """Carry out the parsed command line; return the exit code."""
    from nora_lab.archive import Archive

    arc = Archive.open()
    did = False
    for flag, archive_command in ARCHIVE_COMMANDS:
        if getattr(args, flag):
            archive_command(args, arc)
            did = True
    for mod in _layer_modules():
        if mod.run(args, arc):
            did = True
    filters = _filters(args.filter)
    todo = [command for flag, command in PROJECT_COMMANDS if getattr(args, flag)]
    if todo:
        proj = _open_project(args, arc)
        for command in todo:
            if code := command(args, proj, filters):
                return code
        did = True
    if not did:
        raise _Usage("nothing to do: see nora --help")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nora`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except _Usage as exc:
        print(f"nora: error: {exc}", file=sys.stderr)
        return 2
    except NotFoundError as exc:
        print(f"nora: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
    except NoraError as exc:
        print(f"nora: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file the archive needs: say which, in one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"nora: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

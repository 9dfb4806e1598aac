"""The batch flags of the ``nora`` command (a layer module of :mod:`nora_lab.cli`).

::

    nora -p demo --launch '{"name": "copy", "jobs": [...]}' --filter 'subject=JOB:e'
    nora -p demo --launch copy_t1 --study P001#S1          (a batch saved in the project)
    nora -p demo --launchfile batch.json --throwerror      (exit 1 if a study fails)
    nora -p demo --launchfile batch.json --dryrun          (what would be submitted)
    nora -p demo --launch_autoexec P001#S1                 (the project's autoexec batch)
    nora -p demo --gridstats e                             (the jobs in error)
    nora -p demo --killjobs 20260101-120000-ab12cd         (a run, job ids, PSIDs, 'all')
    nora --listjobs [-j]                                   (the built-in jobs, their arguments)
    nora -p demo --provenance P001/S1/tissue/gm.nii.gz     (where a file came from)

A launch waits until every study has ended (the Dask scheduler lives in this process),
with a progress bar on stderr, then prints one line per failed study.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_arguments", "run", "list_jobs"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add NORA's batch flags (and nora_lab's additions) to ``parser``."""
    g = parser.add_argument_group("BATCH")
    g.add_argument("--launch", metavar="JSON",
                   help="launches a batch given as JSON (or the name of a batch saved in the "
                        "project) on the studies selected by --filter/--study (default: the "
                        "batch's selection, else all studies); waits until it has ended")
    g.add_argument("--launchfile", metavar="FILE", help="launches the batch in a JSON file")
    g.add_argument("--throwerror", action="store_true",
                   help="with --launch/--launchfile: exit with an error if a study failed")
    if "--dryrun" not in parser._option_string_actions:  # shared with other layers
        g.add_argument("--dryrun", action="store_true",
                       help="with --launch/--launchfile: print the resolved commands per study "
                            "and the cluster job script instead of running")
    g.add_argument("--launch_autoexec", nargs="*", metavar="PSID",
                   help="runs the project's autoexec batch on the studies (none given: the "
                        "studies queued by imports)")
    g.add_argument("--batch_backend", choices=("local", "slurm", "sge"),
                   help="with --launch: the Dask backend (default: $NORA_HOME/batch.yaml)")
    g.add_argument("--batch_queue", metavar="QUEUE",
                   help="with --launch: the queue (processing, import, or a partition)")
    g.add_argument("--savebatch", metavar="FILE",
                   help="saves the batch in a JSON file in the project under its name")
    g.add_argument("--gridstats", nargs="?", const="", metavar="STATES",
                   help="lists the project's jobs (optionally only states, e.g. 'e' or 'qr')")
    g.add_argument("--killjobs", nargs="+", metavar="WHAT",
                   help="kills queued/running jobs: run ids, job ids, PSIDs, batch names or 'all'")
    g.add_argument("--listjobs", action="store_true",
                   help="lists the built-in jobs (the processing catalogue and any registered "
                        "job) with their arguments, outputs and defaults (-j: as JSON)")
    g.add_argument("--provenance", metavar="FILE",
                   help="where a file came from: the job, arguments, libraries and inputs "
                        "recorded with it, and its inputs' own (as JSON); FILE is absolute, "
                        "relative to the current folder, or to the study of --study")


def _filters(items: list[str]) -> dict[str, str] | None:
    from nora_lab.errors import ConfigError

    out: dict[str, str] = {}
    for item in items or []:
        col, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--filter {item!r}: expected COLUMN=TEXT, e.g. subject='JOB:e'")
        col = col.strip()
        out[col] = f"{out[col]} & {text}" if col in out else text
    return out or None


def _project(args: argparse.Namespace, archive: Any, flag: str) -> Any:
    from nora_lab.errors import ConfigError

    if not args.project:
        raise ConfigError(f"{flag} needs a project: nora -p NAME {flag} …")
    return archive.project(args.project)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.batch_backend:
        opts["backend"] = args.batch_backend
    if args.batch_queue:
        opts["queue"] = args.batch_queue
    return opts


def _report(run: Any, throwerror: bool) -> None:
    from nora_lab.archive.jobs import STATES
    from nora_lab.errors import BatchError

    counts = run.counts()
    print(f"batch {run.batch.name!r} run {run.id}: "
          + ", ".join(f"{n} {STATES[s]}" for s, n in sorted(counts.items())))
    errors = run.errors()
    for r in errors.itertuples():
        print(f"  {r.unit}: {r.error} (log: {r.log})")
    if throwerror and (len(errors) or set(counts) - {"d"}):
        bad = len(run.units) - counts.get("d", 0)
        raise BatchError(f"batch {run.batch.name!r}: {bad} of {len(run.units)} "
                         f"{run.batch.level} unit(s) did not finish (--throwerror)")


def run(args: argparse.Namespace, archive: Any) -> bool:
    """Carry out the batch flags that were given; True when one was."""
    did = False
    if getattr(args, "savebatch", None):
        from nora_lab.batch.batch import Batch

        proj = _project(args, archive, "--savebatch")
        b = Batch.from_file(args.savebatch)
        b.validate()
        b.save(proj)
        print(f"saved batch {b.name!r} in project {proj.name!r}")
        did = True
    if getattr(args, "launch", None) or getattr(args, "launchfile", None):
        from nora_lab.batch.batch import Batch
        from nora_lab.batch.submit import as_batch, dry_run, launch

        flag = "--launch" if args.launch else "--launchfile"
        proj = _project(args, archive, flag)
        batch = as_batch(args.launch, proj) if args.launch else Batch.from_file(args.launchfile)
        studies = [args.study] if args.study else None
        filters = _filters(args.filter)
        if args.dryrun:
            print(dry_run(batch, proj, studies, filters=filters, **_options(args)))
        else:
            r = launch(batch, proj, studies, filters=filters, wait=True,
                       progress=sys.stderr.isatty(), **_options(args))
            _report(r, args.throwerror)
        did = True
    if getattr(args, "launch_autoexec", None) is not None:
        from nora_lab.batch.autoexec import drain, launch_autoexec

        proj = _project(args, archive, "--launch_autoexec")
        if args.launch_autoexec:
            opts = _options(args)
            r = launch_autoexec(proj, args.launch_autoexec, queue=opts.pop("queue", None),
                                wait=True, **opts)
            _report(r, args.throwerror)
        else:
            print(f"autoexec: {drain(proj)} studies launched")
        did = True
    if getattr(args, "gridstats", None) is not None:
        from nora_lab.archive import jobs

        proj = _project(args, archive, "--gridstats")
        jobs.reap(proj)
        df = jobs.table(proj, states=args.gridstats or None).drop(columns=["command"])
        if getattr(args, "csv", False):
            df.to_csv(sys.stdout, index=False)
        else:
            print(df.to_json(orient="records", date_format="iso", default_handler=str))
        did = True
    if getattr(args, "listjobs", False):
        print(list_jobs(as_json=bool(getattr(args, "json", False))))
        did = True
    if getattr(args, "provenance", None):
        import json
        from pathlib import Path

        from nora_lab.batch.catalogue import provenance

        proj = _project(args, archive, "--provenance")
        path = Path(args.provenance)
        if not path.is_absolute():
            path = (proj.study_dir(args.study) / path) if args.study else path.resolve()
        print(json.dumps(provenance(proj, path), indent=1))
        did = True
    if getattr(args, "killjobs", None):
        print(f"killed {_kill(_project(args, archive, '--killjobs'), args.killjobs)} job(s)")
        did = True
    return did


def _kill(proj: Any, what: list[str]) -> int:
    from nora_lab.archive import jobs

    n = 0
    active = jobs.table(proj, states="qr")
    for w in what:
        if w == "all":
            n += jobs.kill(proj, ids=active["id"].tolist())
        elif w.isdigit():
            n += jobs.kill(proj, ids=[int(w)])
        elif w in set(active["run"]):
            n += jobs.kill(proj, run=w)
        elif w in set(active["unit"]):
            n += jobs.kill(proj, ids=active.loc[active["unit"] == w, "id"].tolist())
        else:
            n += jobs.kill(proj, name=w)
    return n


def list_jobs(*, as_json: bool = False) -> str:
    """The registered built-in jobs: name, description, typed arguments with defaults;
    outputs (OUT/PATHOUT) with their default names and tags."""
    import json

    from nora_lab.batch.registry import registered_jobs

    jobs = {}
    for name, reg in sorted(registered_jobs().items()):
        params = {}
        for p, (kind, many, options) in reg.params.items():
            spec = kind + ("+" if many else "") + (f"({'|'.join(options)})" if options else "")
            params[p] = {"type": spec, **({"default": reg.defaults[p]} if p in reg.defaults else
                                          {"required": True})}
        jobs[name] = {"description": reg.description, "args": params}
    if as_json:
        return json.dumps(jobs, indent=1, default=str)
    lines = []
    for name, job in jobs.items():
        lines.append(f"{name}: {job['description']}")
        for p, a in job["args"].items():
            value = "(required)" if a.get("required") else f"= {a['default']!r}"
            role = "  output" if a["type"] in ("OUT", "PATHOUT") else ""
            lines.append(f"    {p:<16} {a['type']:<28} {value}{role}")
    return "\n".join(lines)

"""Our DICOM node: a storage SCP that files what it receives into the archive.

>>> node = DicomNode(archive, aet="NORA", port=11112, project="demo").start()  # doctest: +SKIP
>>> node.pending()      # what waits in the incoming area                        # doctest: +SKIP
>>> node.stop()                                                                 # doctest: +SKIP

It accepts every standard storage SOP class in every transfer syntax (compressed data is
stored as received), answers C-ECHO and — from the archive — C-FIND. Each instance is
written raw (the dataset bytes as received, never decoded) and atomically to the
incoming area (:mod:`.incoming`); a study is imported once no instance has arrived for
the quiet period, into the project its called (else calling) AE title maps to. An
association that is aborted, or a node that is killed, never lets a partial series be
imported as complete. The network side is :mod:`._acceptor` (pynetdicom's protocol code,
one thread per association).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nora_lab.archive.pacs._acceptor import Acceptor, Association, storage_contexts
from nora_lab.archive.pacs._dimse import file_meta
from nora_lab.archive.pacs._header import HeaderError, study_series_uids
from nora_lab.archive.pacs._receive import OUT_OF_RESOURCES, REFUSED_NO_ROUTE, REFUSED_UNREADABLE
from nora_lab.archive.pacs.incoming import Incoming, safe_uid
from nora_lab.archive.pacs.nodes import LocalNode, PacsConfig, pacs_config
from nora_lab.errors import ConfigError, NoraError, PacsError

__all__ = ["DicomNode", "running_nodes"]

log = logging.getLogger("nora_lab.pacs")

_RUNNING: list[DicomNode] = []


def running_nodes(aet: str | None = None) -> list[DicomNode]:
    """The nodes started in this process (with that AE title)."""
    return [n for n in _RUNNING if aet is None or n.aet == aet]

class DicomNode:
    """A DICOM node receiving into the archive.

    Parameters
    ----------
    archive
        The :class:`~nora_lab.archive.Archive` to import into (its user needs the
        editor role on the target projects). None: ``Archive.open()``.
    aet, host, port
        AE title and address to listen on (default: ``local`` in ``pacs.yaml``).
    project
        Project for studies no AE title maps (``projects``).
    projects
        ``{AE title: project}``, matched against the called AE title, then the calling.
    incoming
        The incoming area (default ``$NORA_HOME/incoming``).
    quiet_period
        Seconds without a new instance before a study is imported.
    allowed_calling_aets
        Accept only these callers (empty: anyone).
    keep_dicom
        Keep each series' originals as ``dicom.tar.gz`` (None: the project's policy).
    autoexec
        Let the study-imported hooks auto-execute (the batch layer's hook runs the
        project's autoexec batch on every imported study); False: imports start none.
    answer_find
        Answer C-FIND (Patient and Study Root) from the archive.
    auto_import
        Import after the quiet period in a background thread (False: only on
        :meth:`import_now`).
    config
        A :class:`~nora_lab.archive.pacs.nodes.PacsConfig` (default: the user's).
    """

    def __init__(self, archive: Any = None, *, config: PacsConfig | None = None,
                 auto_import: bool = True, **settings: Any) -> None:
        cfg = config or pacs_config()
        unknown = set(settings) - set(LocalNode.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"DicomNode: unknown setting(s) {', '.join(sorted(unknown))}")
        import dataclasses

        given = {k: v for k, v in settings.items() if v is not None}
        self.settings: LocalNode = LocalNode(**{**dataclasses.asdict(cfg.local), **given})
        if archive is None:
            from nora_lab.archive import Archive

            archive = Archive.open()
        self.archive = archive
        self.incoming = Incoming(self.settings.incoming_dir())
        self.auto_import = auto_import
        self.reports: list[Any] = []  # ImportReports, newest last
        self.errors: list[str] = []
        self.received = 0
        self.rejected = 0
        #: called as ``callback(report)`` after every import the node makes
        self.on_import: list[Callable[[Any], Any]] = []
        #: called as ``callback((project, study_uid, series_uid))`` for every stored instance
        self.on_receive: list[Callable[[tuple[str, str, str]], Any]] = []
        self._claims: dict[str, str] = {}  # series uid -> project, for pulls in progress
        self._open: set[int] = set()  # ids of associations in progress
        self._journals: dict[int, Any] = {}
        self._projects: dict[str, Any] = {}
        self._retry: dict[tuple[str, str], float] = {}
        self._server: Acceptor | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._import_lock = threading.Lock()

    def __repr__(self) -> str:
        state = f"listening on {self.port}" if self.running else "stopped"
        return f"<DicomNode {self.settings.aet} {state}, incoming {self.incoming.root}>"

    # --- life cycle ---------------------------------------------------------------------
    @property
    def aet(self) -> str:
        return self.settings.aet

    @property
    def port(self) -> int:
        """The port listened on (the real one when ``port=0`` was asked)."""
        if self._server is not None:
            return self._server.port
        return self.settings.port

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> DicomNode:
        """Check the routes, recover what a stopped node left, listen, import.

        Raises
        ------
        ConfigError
            No project to import into, or a mapped project that does not exist.
        PacsError
            The port cannot be opened (in use, or not allowed).
        """
        if self.running:
            return self
        s = self.settings
        names = {p for p in [s.project, *s.projects.values()] if p}
        if not names:
            raise ConfigError("the DICOM node needs a project to import into: "
                              "DicomNode(project=…), nora --node start -p NAME, or "
                              "local.project / local.projects in pacs.yaml")
        for name in names:
            self._project(name)
        try:  # bound and listening; connections wait until the recovery below is done
            server = Acceptor(self, s.host, s.port, storage_contexts(s.answer_find))
        except OSError as exc:
            raise PacsError(f"the DICOM node cannot listen on {s.host}:{s.port}: {exc} "
                            "(another node running? choose another port: --port)") from exc
        for reason in self.incoming.recover():
            log.warning("held after a stop: %s", reason)
        self._server = server.start()
        self._stop.clear()
        if self.auto_import:
            self._thread = threading.Thread(target=self._import_loop, daemon=True,
                                            name=f"nora-node-import-{s.aet}")
            self._thread.start()
        _RUNNING.append(self)
        log.info("DICOM node %s listening on %s:%s", s.aet, s.host, self.port)
        return self

    def stop(self) -> None:
        """Stop listening (open associations are aborted: their series are held) and
        let an import in progress finish."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self._server is not None:
            self._server.stop()  # open associations end as cut: their series are held
            self._server = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> DicomNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Start and block until SIGINT/SIGTERM (the CLI's ``--node start``)."""
        import signal

        self.start()
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        try:
            while not done.wait(1.0):
                pass
        finally:
            self.stop()

    # --- what waits ---------------------------------------------------------------------
    def pending(self) -> Any:
        """The series waiting in the incoming area (DataFrame), held ones with the reason."""
        return self.incoming.pending()

    def release(self, study_uid: str, series_uid: str | None = None, *,
                project: str | None = None) -> int:
        """Import a held series (or study) anyway at the next pass; how many released."""
        projects = [project] if project else \
            sorted({s.project for s in self.incoming.series(count=False)})
        return sum(self.incoming.release(p, study_uid, series_uid) for p in projects)

    def import_now(self, *, wait_quiet: bool = False) -> list[Any]:
        """Import every study that is not held or being received, now; the reports."""
        return self._import_pass(quiet=self.settings.quiet_period if wait_quiet else 0.0)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until nothing but held series waits in the incoming area (tests, notebooks)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if not self._open and all(s.held for s in self.incoming.series(count=False)):
                with self._import_lock:
                    return True
            time.sleep(0.05)
        return False

    # --- pulls --------------------------------------------------------------------------
    def settle(self, series_uids: list[str], timeout: float = 10.0) -> bool:
        """Wait until no open association is writing to these series (a pull's sender
        may still be finishing, or its cut connection not yet noticed)."""
        wanted = {safe_uid(u) for u in series_uids}
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            busy = any(safe_uid(ser) in wanted for j in list(self._journals.values())
                       for _p, _s, ser in list(j.series))
            if not busy:
                return True
            time.sleep(0.02)
        return False

    @contextmanager
    def claim(self, series_uids: list[str], project: str) -> Iterator[None]:
        """Route these series to ``project`` and keep them from the quiet-period import
        (a pull imports them itself once its moves are done)."""
        self._project(project)
        for uid in series_uids:
            self._claims[uid] = project
        try:
            yield
        finally:
            for uid in series_uids:
                self._claims.pop(uid, None)

    # --- the acceptor's service (one thread per association) ------------------------------
    def accept(self, assoc: Association) -> str | None:
        """Accept or reject an association (None: accept)."""
        allowed = self.settings.allowed_calling_aets
        if allowed and assoc.calling not in allowed:
            return f"calling AE title {assoc.calling!r} is not allowed"
        if self.settings.project_for(assoc.called, assoc.calling) is None and not self._claims:
            return f"called AE title {assoc.called!r} maps to no project"
        self._open.add(id(assoc))
        return None

    def store(self, assoc: Association, transfer_syntax: str, sop_class: str, sop_uid: str,
              dataset: bytearray) -> int:
        """File one received instance in the incoming area; the C-STORE status."""
        try:
            study, series = study_series_uids(dataset, transfer_syntax)
        except HeaderError as exc:
            self.rejected += 1
            where = self.incoming.reject([dataset], f"SOP {sop_uid}: {exc}", assoc.calling)
            log.warning("refused an instance from %s: %s (kept as %s)", assoc.calling, exc,
                        where)
            return REFUSED_UNREADABLE
        project = self._claims.get(series) or \
            self.settings.project_for(assoc.called, assoc.calling)
        if project is None:
            self.rejected += 1
            return REFUSED_NO_ROUTE
        journal = self._journals.get(id(assoc))
        if journal is None:
            journal = self._journals[id(assoc)] = self.incoming.journal(assoc.calling,
                                                                        assoc.called)
        try:
            journal.touch(project, study, series)
            self.incoming.write(project, study, series, sop_uid,
                                [file_meta(sop_class, sop_uid, transfer_syntax, assoc.calling),
                                 dataset])
        except OSError as exc:
            log.error("cannot store %s from %s: %s", sop_uid, assoc.calling, exc)
            return OUT_OF_RESOURCES
        self.received += 1
        for cb in list(self.on_receive):
            cb((project, study, series))
        return 0x0000

    def find(self, assoc: Association, sop_class: str, query: Any
             ) -> Iterator[tuple[int, Any]]:
        """C-FIND matches from the archive (the project the AE titles map to)."""
        from nora_lab.archive.pacs.answer import answer_find

        project = self.settings.project_for(assoc.called, assoc.calling)
        try:
            proj = self._project(project) if project else None
            if proj is None:
                yield 0xC000, None
                return
            for ds in answer_find(proj, query):
                yield 0xFF00, ds
        except NoraError as exc:
            log.warning("C-FIND from %s refused: %s", assoc.calling, exc)
            yield 0xC000, None
            return
        yield 0x0000, None

    def closed(self, assoc: Association, released: bool, reason: str) -> None:
        """Close the association's journal: released, or hold what it sent."""
        self._open.discard(id(assoc))
        journal = self._journals.pop(id(assoc), None)
        if journal is not None:
            journal.finish(released, reason)

    # --- importing ----------------------------------------------------------------------
    def _project(self, name: str) -> Any:
        proj = self._projects.get(name)
        if proj is None:
            try:
                proj = self.archive.project(name)
            except NoraError as exc:
                raise ConfigError(f"the DICOM node routes to project {name!r}, which "
                                  f"{self.archive.user!r} cannot open: {exc}") from exc
            if proj.role not in ("editor", "admin"):
                raise ConfigError(f"the DICOM node imports as {self.archive.user!r}, who "
                                  f"is only {proj.role} of project {name!r}: grant editor")
            self._projects[name] = proj
        return proj

    def _busy(self) -> set[tuple[str, str]]:
        busy = self.incoming.busy()  # open associations of every process using the area
        for j in list(self._journals.values()):
            busy |= j.studies()
        claimed = set(self._claims)
        if claimed:
            for s in self.incoming.series(count=False):
                if s.series_uid in {safe_uid(c) for c in claimed}:
                    busy.add((s.project, s.study_uid))
        return busy

    def _import_loop(self) -> None:
        tick = min(1.0, max(0.05, self.settings.quiet_period / 4))
        while not self._stop.wait(tick):
            try:
                self._import_pass(self.settings.quiet_period)
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                self.errors.append(f"{type(exc).__name__}: {exc}")
                log.exception("import pass failed")

    @contextmanager
    def _import_options(self) -> Iterator[None]:
        """What the study-imported hooks learn of this import: auto-execution only when
        the node's ``autoexec`` setting allows it (the hooks themselves come from the
        entry-point group ``nora_lab.study_imported``; the archive imports no layer above)."""
        from nora_lab.archive.dicom.importer import import_options

        token = import_options.set(
            {"autoexec_queue": "DEFAULT" if self.settings.autoexec else None})
        try:
            yield
        finally:
            import_options.reset(token)

    def _import_pass(self, quiet: float) -> list[Any]:
        done = []
        with self._import_lock:
            for project, study, series in self.incoming.ready(quiet, self._busy()):
                key = (project, study)
                if self._retry.get(key, 0) > time.time() and quiet > 0:
                    continue
                try:
                    with self._import_options():
                        report = self.incoming.import_series(
                            self._project(project), series,
                            keep_dicom=self.settings.keep_dicom)
                except Exception as exc:  # noqa: BLE001 - keep the files, try later
                    self._retry[key] = time.time() + 30
                    msg = (f"import of study {study} into {project!r} failed, files kept, "
                           f"retry in 30 s: {type(exc).__name__}: {exc}")
                    self.errors.append(msg)
                    log.error(msg)
                    continue
                self._retry.pop(key, None)
                self.reports.append(report)
                done.append(report)
                log.info("%s", report.summary())
                for cb in list(self.on_import):
                    try:
                        cb(report)
                    except Exception as exc:  # noqa: BLE001
                        self.errors.append(f"on_import callback {cb!r}: {exc}")
        return done


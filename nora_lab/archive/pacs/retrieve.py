"""Pull studies or series from a PACS into a project: C-MOVE to our node, or C-GET.

>>> series = find_series("PACS1", patient_id="12345", modality="MR")           # doctest: +SKIP
>>> pull("PACS1", project, series=series, dry_run=True)    # what would be pulled  # doctest: +SKIP
>>> result = pull("PACS1", project, series=series)          # one row per series   # doctest: +SKIP

A pull is resumable: instances the project already holds (the import's
``dicom_instances``) and instances an interrupted pull already received (still in the
incoming area) are not moved again — fully imported series are skipped after the series
query, partly present ones are completed by an instance-level move of what is missing.
A series whose move fails or comes back short is held in the incoming area with the
reason, never imported as if complete; the next pull finishes it. Moves run on at most
``max_associations`` associations per node, series of a study on one association; each
study's complete series are imported together (so auto-execution sees whole studies).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from typing import Any

import pandas as pd
from pydicom.dataset import Dataset
from pynetdicom import build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # names made at import
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from nora_lab.archive.pacs._assoc import association, resolve, status_text
from nora_lab.archive.pacs._plan import (
    PLAN_COLUMNS,
    RESULT_COLUMNS,
    UID_CHUNK,
    Item,
    frame,
    plan,
)
from nora_lab.archive.pacs.incoming import Incoming, PendingSeries
from nora_lab.archive.pacs.nodes import PacsConfig, PacsNode
from nora_lab.errors import ConfigError, PacsError, PermissionDenied

__all__ = ["pull", "PLAN_COLUMNS", "RESULT_COLUMNS"]

def pull(node: PacsNode | str, project: Any, *, studies: Any = None, series: Any = None,
         method: str | None = None, dry_run: bool = False, receiver: Any = None,
         keep_dicom: bool | None = None,
         progress: bool | Callable[[int, int], Any] = True,
         config: PacsConfig | None = None) -> pd.DataFrame:
    """Pull studies or series from ``node`` into ``project``.

    Parameters
    ----------
    node
        A configured node's name or a :class:`PacsNode`.
    project
        The :class:`~nora_lab.archive.project.Project` to import into (editor role).
    studies
        StudyInstanceUIDs: a DataFrame with that column (e.g. from :func:`find_studies`,
        filtered), a list, or one UID. Every series of them is pulled.
    series
        Series: a DataFrame with StudyInstanceUID and SeriesInstanceUID (from
        :func:`find_series`), or a list of SeriesInstanceUIDs.
    method
        ``"move"`` (C-MOVE to our node) or ``"get"`` (C-GET); default: the node's.
    dry_run
        Only return the plan: what is at the PACS, already here, and would be pulled.
    receiver
        The :class:`DicomNode` receiving C-MOVEs. Default: one started in this process
        with the move destination's AE title, else a temporary one on the local node's
        port for the duration of the pull.
    keep_dicom
        Keep the originals (``dicom.tar.gz``; None: the project's policy).
    progress
        True: a tqdm progress bar of instances received; or a function called as
        ``progress(received, total)`` after each instance (from the receiving threads;
        a widget's progress bar, a log line); False: nothing.

    Returns
    -------
    pandas.DataFrame
        One row per series (:data:`RESULT_COLUMNS`; the plan's :data:`PLAN_COLUMNS` for a
        dry run). ``status``: imported, partial, failed, already imported, incomplete.

    Raises
    ------
    PacsError
        The node is unreachable or refuses the queries, or no receiver can listen.
    PermissionDenied
        If the user may not edit ``project``.
    """
    node, cfg = resolve(node, config)
    if node.transport == "dicomweb":  # WADO-RS: no C-MOVE, no receiver
        if not dry_run and project.role not in ("editor", "admin"):
            raise PermissionDenied(f"pulling into project {project.name!r} needs the editor "
                                   f"role; {project.archive.user!r} is {project.role}")
        if studies is None and series is None:
            raise ConfigError("pull needs studies=… or series=… (e.g. from find_series)")
        from nora_lab.archive.pacs import dicomweb

        return dicomweb.pull(node, project, studies=studies, series=series, dry_run=dry_run,
                             keep_dicom=keep_dicom, progress=progress)
    method = method or node.retrieve
    if method not in ("move", "get"):
        raise ConfigError(f"method {method!r}: expected 'move' or 'get'")
    if not dry_run and project.role not in ("editor", "admin"):
        raise PermissionDenied(f"pulling into project {project.name!r} needs the editor "
                               f"role; {project.archive.user!r} is {project.role}")
    if studies is None and series is None:
        raise ConfigError("pull needs studies=… or series=… (e.g. from find_series)")
    incoming = receiver.incoming if receiver is not None else \
        Incoming(cfg.local.incoming_dir())
    items = plan(node, cfg, project, incoming, studies, series, method)
    if dry_run:
        return frame(items, PLAN_COLUMNS)
    work = [it for it in items if not it.action.startswith("skip")]
    if not work:
        for it in items:
            it.status = "already imported"
        return frame(items, RESULT_COLUMNS)
    with ExitStack() as stack:
        if method == "move" and any(it.action.startswith("pull") for it in work):
            receiver = receiver or _receiver(project, cfg, node, stack)
        bar = _bar(progress, sum(it.to_pull or 0 for it in work))
        if bar is not None:
            stack.callback(bar.close)
        by_study: dict[str, list[Item]] = {}
        for it in work:
            by_study.setdefault(it.study, []).append(it)
        runner = _Runner(node, cfg, project, incoming, method, receiver, keep_dicom, bar)
        with ThreadPoolExecutor(node.max_associations, thread_name_prefix="nora-pull") as ex:
            for fut in [ex.submit(runner.study, its) for its in by_study.values()]:
                fut.result()
    for it in items:
        if it.action.startswith("skip"):
            it.status = "already imported"
    return frame(items, RESULT_COLUMNS)


# --- running -----------------------------------------------------------------------------


def _receiver(project: Any, cfg: PacsConfig, node: PacsNode, stack: ExitStack) -> Any:
    from nora_lab.archive.pacs.scp import DicomNode, running_nodes

    dest = cfg.move_destination(node)
    for running in running_nodes(dest):
        return running
    temp = DicomNode(project.archive, config=cfg, aet=dest, project=project.name,
                     auto_import=False, autoexec=False)
    try:
        temp.start()
    except PacsError as exc:
        raise PacsError(f"C-MOVE from {node.name!r} needs our node {dest!r} to receive, "
                        f"but it cannot listen: {exc}. If `nora --node start` is running "
                        "there, pull with method='get', or pass receiver=<that DicomNode> "
                        "in the same process") from exc
    stack.callback(temp.stop)
    return temp


_MAX_CX = 126  # presentation contexts besides the C-GET model's
#: transfer syntaxes offered for C-GET, each in a context of its own: the peer sends every
#: instance as stored when one of them matches (a single context would make it transcode)
_GET_SYNTAXES = (
    "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.2",
)


def _get_contexts(classes: list[str]) -> list[tuple[str, list[str]]]:
    """One context per (SOP class, transfer syntax), as many syntaxes as fit in 126."""
    if not classes:
        return []
    per = max(1, min(len(_GET_SYNTAXES), _MAX_CX // len(classes)))
    return [(c, [ts]) for c in classes[:_MAX_CX] for ts in _GET_SYNTAXES[:per]]


def _bar(progress: bool | Callable[[int, int], Any], total: int) -> Any:
    if callable(progress):
        return _Callback(progress, total)
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="pull", unit="img", leave=False)


class _Callback:
    """A tqdm-shaped bar that tells ``fn(received, total)``."""

    def __init__(self, fn: Callable[[int, int], Any], total: int) -> None:
        self.fn, self.total, self.n = fn, total, 0

    def update(self, n: int = 1) -> None:
        self.n += n
        self.fn(self.n, self.total)

    def close(self) -> None:
        pass


class _Runner:
    def __init__(self, node: PacsNode, cfg: PacsConfig, project: Any, incoming: Incoming,
                 method: str, receiver: Any, keep_dicom: bool | None, bar: Any) -> None:
        self.node, self.cfg, self.project, self.incoming = node, cfg, project, incoming
        self.method, self.receiver, self.keep_dicom, self.bar = method, receiver, \
            keep_dicom, bar
        self._lock = threading.Lock()

    def _tick(self, n: int = 1) -> None:
        if self.bar is not None:
            with self._lock:
                self.bar.update(n)

    def study(self, items: list[Item]) -> None:
        t0 = time.perf_counter()
        uids = [it.uid for it in items]
        claim = self.receiver.claim(uids, self.project.name) \
            if self.method == "move" and self.receiver is not None else nullcontext()
        wanted = set(uids)

        def on_receive(where: tuple[str, str, str]) -> None:
            if where[2] in wanted:
                self._tick()

        with claim:
            if self.receiver is not None:
                self.receiver.on_receive.append(on_receive)
            try:
                self._retrieve([it for it in items if it.action.startswith("pull")])
            finally:
                if self.receiver is not None:
                    self.receiver.on_receive.remove(on_receive)
            self._finish(items, t0)

    def _retrieve(self, items: list[Item]) -> None:
        if not items:
            return
        if self.method == "move":
            model = StudyRootQueryRetrieveInformationModelMove
            contexts: list[Any] = [model]
            ext, handlers = [], []
        else:
            model = StudyRootQueryRetrieveInformationModelGet
            classes = sorted({c for it in items for c in it.sop_classes})
            contexts = [model, *_get_contexts(classes)]
            ext = [build_role(c, scp_role=True) for c in classes[:_MAX_CX]]
            # other processes' nodes see these studies as busy while the C-GET runs
            journal = self.incoming.journal(self.node.aet, self.cfg.calling_aet(self.node))
            handlers = [(evt.EVT_C_STORE, lambda event: self._on_get_store(event, journal))]
        try:
            with association(self.node, self.cfg, contexts, ext_neg=ext,
                             handlers=handlers) as assoc:
                for it in items:
                    self._one(assoc, model, it)
        except PacsError as exc:
            for it in items:
                if not it.reason:
                    it.reason = str(exc)
        finally:
            if self.method == "get":
                journal.close()

    def _on_get_store(self, event: Any, journal: Any) -> int:
        from nora_lab.archive.pacs._receive import receive

        status, where = receive(self.incoming, event, lambda s, se: self.project.name,
                                journal.touch)
        if where is not None:
            self._tick()
        return status

    def _one(self, assoc: Any, model: Any, it: Item) -> None:
        dest = self.cfg.move_destination(self.node)
        chunks: Iterable[list[str] | None] = [None] if it.missing is None else \
            [it.missing[i:i + UID_CHUNK] for i in range(0, len(it.missing), UID_CHUNK)]
        for chunk in chunks:
            q = Dataset()
            q.QueryRetrieveLevel = "SERIES" if chunk is None else "IMAGE"
            q.StudyInstanceUID, q.SeriesInstanceUID = it.study, it.uid
            if chunk is not None:
                q.SOPInstanceUID = chunk
            responses = assoc.send_c_move(q, dest, model) if self.method == "move" else \
                assoc.send_c_get(q, model)
            final = None
            for status, _ident in responses:
                final = status
                if status is None or "Status" not in status or \
                        status.Status not in (0xFF00, 0xFF01):
                    break
            if final is None or "Status" not in final or final.Status != 0x0000:
                it.reason = f"{'C-MOVE' if self.method == 'move' else 'C-GET'} of series " \
                            f"{it.uid} from {self.node.name!r}: {status_text(final)}"
                if final is not None and final.get("Status") == 0xA801:
                    it.reason += f" (the PACS does not know our AE title {dest!r} as a " \
                                 "move destination: register it there)"
                return

    def _finish(self, items: list[Item], t0: float) -> None:
        name = self.project.name
        if self.method == "move" and self.receiver is not None:
            self.receiver.settle([it.uid for it in items])
        ready: list[Item] = []
        for it in items:
            folder = self.incoming.series_dir(name, it.study, it.uid)
            got = {p.name[:-4] for p in folder.glob("*.dcm")} if folder.is_dir() else set()
            it.received = len(got - it.spooled)
            have = got | it.archived
            complete = it.pacs_sops <= have if it.pacs_sops is not None else \
                it.at_pacs is not None and len(have) >= it.at_pacs
            if complete and not it.reason:
                ready.append(it)
                continue
            if got:
                n = len(have & it.pacs_sops) if it.pacs_sops is not None else len(have)
                why = it.reason or "the PACS sent fewer instances than it listed"
                self.incoming.hold(name, it.study, it.uid,
                                   f"pull from {self.node.name!r} incomplete: {n} of "
                                   f"{it.at_pacs} instances ({why}); pull again to finish")
            it.status = "incomplete"
            it.reason = it.reason or f"received {len(have)} of {it.at_pacs} instances"
            it.seconds = time.perf_counter() - t0
        if not ready:
            return
        pending = []
        for it in ready:
            self.incoming.release(name, it.study, it.uid)
            folder = self.incoming.series_dir(name, it.study, it.uid)
            pending.append(PendingSeries(name, it.study, it.uid, folder, 0, 0.0))
        try:
            report = self.incoming.import_series(self.project, pending,
                                                 keep_dicom=self.keep_dicom)
        except Exception as exc:  # noqa: BLE001 - files stay in the incoming area
            for it in ready:
                it.status, it.reason = "failed", f"import failed, files kept in the " \
                    f"incoming area: {type(exc).__name__}: {exc}"
                it.seconds = time.perf_counter() - t0
            return
        by_uid: dict[str, list[Any]] = {}
        for s in report.series:
            by_uid.setdefault(s.series_uid, []).append(s)
        for it in ready:
            found = by_uid.get(it.uid, [])
            if not found:
                it.status = "failed"
                it.reason = "the import found no DICOM image in it" + (
                    f" ({report.skipped[0].reason})" if report.skipped else "")
            else:
                statuses = {s.status for s in found}
                it.status = "imported" if statuses <= {"converted", "already imported"} \
                    and "converted" in statuses else \
                    ("already imported" if statuses == {"already imported"} else
                     "failed" if statuses == {"failed"} else "partial")
                it.psid = found[0].psid
                it.folder = ",".join(dict.fromkeys(s.series_folder for s in found))
                it.reason = "; ".join(p for s in found for p in s.problems)
            it.seconds = time.perf_counter() - t0

"""The subject/study table of NORA's desktop: filter bars, tags, paging, job states, files.

One anywidget (``static/table.js``, a small hand-written ES module without
dependencies). Python owns the state and asks the archive; the page only
renders it and reports what the user did:

* the filter bars (``subject``, ``study``, ``date``, ``description``) and the
  file-search bar (``files``) are passed as they are to
  :meth:`Project.studies <nora_lab.archive.project.Project.studies>` – NORA's
  syntax is implemented by the archive; a :class:`~nora_lab.errors.FilterSyntaxError`
  (or an unsafe file pattern) is shown under the bars, naming the bar;
* a page of ``page_size`` (50) studies is fetched with ``limit``/``offset``; the
  count (``total``) comes after the page, so a large project shows its first page
  at once;
* study tags are shown and, for editors, added and removed in place;
* each study shows small job-state badges (queued, running, error, done, killed:
  the newest row of each batch), from :func:`default_job_states` or any callable
  passed as ``job_states=``;
* selecting a study (click, arrow keys, :meth:`StudyTable.select`,
  :meth:`StudyTable.step`) lists its files; double-clicking a file reports it to
  :meth:`StudyTable.on_open`.

Machine-checkable markers: the page writes ``data-seq`` (the last ``seq`` it
rendered), ``data-rows``, ``data-total``, ``data-page``, ``data-selected`` and
``data-error`` on its root element.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets as t
from ipywidgets import CallbackDispatcher

from nora_lab.errors import ArchiveError, ConfigError, FilterSyntaxError, NoraError

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.project import Project

__all__ = ["StudyTable", "COLUMNS", "default_job_states"]

_STATIC = Path(__file__).parent / "static"

#: The filter bars, in the order the table shows them (``files`` is the file-search bar).
COLUMNS = ("subject", "study", "date", "description", "files")
#: JobState's letters (nora_lab.archive.job_states: not imported here, it loads SQLAlchemy)
JOB_LETTERS = ("q", "r", "e", "d", "k")

JobStates = Callable[["Project", Sequence[str]], Mapping[str, Mapping[str, str]]]


def default_job_states(project: Project, psids: Sequence[str]) -> dict[str, dict[str, str]]:
    """``{psid: {batch name: state letter}}`` – the newest job row of each batch per study
    (:func:`nora_lab.archive.job_states.study_states`, which reads only these studies' rows)."""
    from nora_lab.archive import job_states as jobs

    return jobs.study_states(project, psids)


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return str(value) if not isinstance(value, (int, float, bool)) else value


class StudyTable(anywidget.AnyWidget):
    """NORA's subject/study table for one project.

    Parameters
    ----------
    project : nora_lab.archive.project.Project
        The project whose studies are listed (as its user sees them).
    filters : mapping, optional
        Initial filter-bar texts, ``{column: text}`` with columns from :data:`COLUMNS`.
    page_size : int
        Studies per page (``limit`` of the query).
    job_states : callable, optional
        ``job_states(project, psids) -> {psid: {batch: state letter}}``; default
        :func:`default_job_states`. Pass ``False`` to show no job states.

    Traits you read and set
    -----------------------
    filters : dict
        The bar texts; setting them queries again (from the first page).
    page : int
        0-based page; setting it fetches that page.
    selected : str
        PSID of the selected study ("" for none); ``files`` lists its files.
    rows, total, files, error
        What the table shows (read only by convention): the page's studies, the
        number of matching studies (None until counted), the selected study's files,
        the filter error shown under the bars.

    Examples
    --------
    >>> table = StudyTable(proj, filters={"files": "*mprage*"})      # doctest: +SKIP
    >>> table.on_select(lambda psid: print("selected", psid))         # doctest: +SKIP
    >>> table.step(+1)                                                # doctest: +SKIP
    """

    _esm = _STATIC / "table.js"
    _css = _STATIC / "table.css"

    filters = t.Dict().tag(sync=True)
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(50).tag(sync=True)
    rows = t.List(t.Dict()).tag(sync=True)
    total = t.Int(None, allow_none=True).tag(sync=True)
    selected = t.Unicode("").tag(sync=True)
    files = t.List(t.Dict()).tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    error_column = t.Unicode("").tag(sync=True)
    message = t.Unicode("").tag(sync=True)
    editable = t.Bool(False).tag(sync=True)
    project_name = t.Unicode("").tag(sync=True)
    height = t.Int(360).tag(sync=True)
    seq = t.Int(0).tag(sync=True)

    def __init__(self, project: Project, *, filters: Mapping[str, str] | None = None,
                 page_size: int = 50, job_states: JobStates | bool | None = None, **kwargs: Any):
        self.project = project
        self._job_states: JobStates | None = (
            None if job_states is False else (job_states or default_job_states))  # type: ignore[assignment]
        self._select_handlers = CallbackDispatcher()
        self._open_handlers = CallbackDispatcher()
        self._querying = True  # the traits set here query once, below
        super().__init__(page_size=int(page_size), editable=project.role != "reader",
                         project_name=project.name,
                         filters=self._clean(filters or {}), **kwargs)
        self._querying = False
        self.on_msg(self._on_frontend_msg)
        self.refresh()

    # ------------------------------------------------------------ queries

    @staticmethod
    def _clean(filters: Mapping[str, str]) -> dict[str, str]:
        bad = [k for k in filters if k not in COLUMNS]
        if bad:
            raise FilterSyntaxError(f"unknown filter bar(s) {bad}; the table has {list(COLUMNS)}")
        return {k: str(filters.get(k) or "") for k in COLUMNS}

    def _query_filters(self) -> dict[str, str]:
        return {k: v for k, v in self.filters.items() if v and v.strip()}

    def refresh(self) -> None:
        """Query the current page again (and then the count)."""
        filters = self._query_filters()
        self._querying = True
        try:
            try:
                df = self.project.studies(filters, limit=self.page_size,
                                          offset=self.page * self.page_size)
            except (NoraError, ValueError) as exc:  # FilterSyntaxError, UnsafePathError
                self._show_error(exc)
                return
            rows = self._rows(df)
            if not rows and self.page > 0:  # filters narrowed below this page
                self.page = 0
                df = self.project.studies(filters, limit=self.page_size, offset=0)
                rows = self._rows(df)
            with self.hold_sync():
                self.error, self.error_column = "", ""
                self.rows = rows
                self.total = None
                self.seq += 1
            # the page is on its way to the browser; now count (the slow part on big archives)
            self.total = int(self.project.count_studies(filters))
            self.seq += 1
        finally:
            self._querying = False

    def _rows(self, df) -> list[dict]:
        psids = [str(p) for p in df["psid"]]
        states = self._states(psids)
        rows = []
        for rec in df.to_dict("records"):
            psid = str(rec["psid"])
            rows.append({
                "psid": psid, "subject": _jsonable(rec.get("subject")),
                "study": _jsonable(rec.get("study")), "date": _jsonable(rec.get("date")),
                "description": _jsonable(rec.get("description")),
                "tags": [str(g) for g in (rec.get("tags") or [])],
                "jobs": states.get(psid, {}),
            })
        return rows

    def _states(self, psids: list[str]) -> dict[str, dict[str, str]]:
        if self._job_states is None or not psids:
            return {}
        try:
            return {p: dict(s) for p, s in self._job_states(self.project, psids).items()}
        except NoraError as exc:
            self.message = f"job states unavailable: {exc}"
            return {}

    def _show_error(self, exc: Exception) -> None:
        text = str(exc)
        column = next((c for c, v in self._query_filters().items() if repr(v) in text
                       or f"'{v}'" in text), "")
        with self.hold_sync():
            self.error, self.error_column = text, column
            self.seq += 1

    @t.observe("filters")
    def _filters_changed(self, change: t.Bunch) -> None:
        clean = self._clean(change.new)
        if clean != change.new:
            self.filters = clean
            return
        if self._querying:
            return
        self._querying = True
        try:
            self.page = 0
        finally:
            self._querying = False
        self.refresh()

    @t.observe("page")
    def _page_changed(self, change: t.Bunch) -> None:
        if change.new < 0:
            self.page = 0
            return
        if not self._querying:
            self.refresh()

    @t.observe("page_size")
    def _page_size_changed(self, change: t.Bunch) -> None:
        if change.new < 1:
            raise ConfigError(f"page_size must be at least 1, got {change.new}")
        if not self._querying:
            self.refresh()

    # ------------------------------------------------------------ selection, stepping

    @property
    def psids(self) -> list[str]:
        """PSIDs of the studies on the current page, in table order."""
        return [r["psid"] for r in self.rows]

    @property
    def n_pages(self) -> int | None:
        """Number of pages (None before the count)."""
        if self.total is None:
            return None
        return max(1, math.ceil(self.total / self.page_size))

    def set_filter(self, column: str, text: str) -> None:
        """Type ``text`` into one filter bar (``column`` from :data:`COLUMNS`)."""
        self.filters = {**self.filters, **self._clean({column: text})}

    def select(self, psid: str) -> None:
        """Select a study by PSID (it need not be on the current page)."""
        self.selected = psid

    def step(self, n: int = 1) -> str | None:
        """Select the study ``n`` rows below (above, when negative) the selected one,
        crossing pages; returns its PSID, or None at either end of the list."""
        psids = self.psids
        if not psids:
            return None
        if self.selected not in psids:
            target = psids[0] if n >= 0 else psids[-1]
            self.select(target)
            return target
        start_page = self.page
        i = psids.index(self.selected) + int(n)
        while i >= len(psids) or i < 0:
            at_end = i >= len(psids) and (
                len(psids) < self.page_size
                or (self.total is not None and (self.page + 1) * self.page_size >= self.total))
            if at_end or (i < 0 and self.page == 0):
                if self.page != start_page:  # ran off either end: stay where we were
                    self.page = start_page
                return None
            if i >= len(psids):
                i -= len(psids)
                self.page += 1
            else:
                self.page -= 1
                i += len(self.psids)
            psids = self.psids
        self.select(psids[i])
        return psids[i]

    def on_select(self, callback: Callable[[str], Any], remove: bool = False) -> None:
        """Call ``callback(psid)`` whenever the selection changes ("" when cleared)."""
        self._select_handlers.register_callback(callback, remove=remove)

    def on_open(self, callback: Callable[[str, str, str, bool], Any], remove: bool = False) -> None:
        """Call ``callback(psid, relpath, path, shift)`` when a file is double-clicked
        (``shift``: with the shift key held) or :meth:`open_file` is called."""
        self._open_handlers.register_callback(callback, remove=remove)

    def open_file(self, relpath: str, psid: str | None = None, shift: bool = False) -> None:
        """Report a file of the selected study (or of ``psid``) as opened."""
        psid = psid or self.selected
        if not psid:
            raise ArchiveError(f"open_file({relpath!r}): select a study first")
        path = str(self.project.study_dir(psid) / relpath)
        self._open_handlers(psid, relpath, path, bool(shift))

    def refresh_files(self) -> None:
        """List the selected study's files again (after a tool saved one)."""
        self.files = self._files(self.selected) if self.selected else []

    @t.observe("selected")
    def _selected_changed(self, change: t.Bunch) -> None:
        self.files = self._files(change.new) if change.new else []
        self._select_handlers(change.new)

    #: the file list of a study shows at most this many files
    max_files = 500

    def _files(self, psid: str) -> list[dict]:
        try:
            df = self.project.files(psid=psid, limit=self.max_files + 1)
        except NoraError as exc:
            self.message = str(exc)
            return []
        self.message = (f"{psid}: showing the first {self.max_files} files; use the file-search "
                        "bar or project.files() for the rest" if len(df) > self.max_files else "")
        df = df.iloc[: self.max_files]
        return [{"relpath": str(r), "filetype": str(ft), "size": int(sz),
                 "tags": [str(g) for g in (tags or [])]}
                for r, ft, sz, tags in zip(df["relpath"], df["filetype"], df["size"], df["tags"],
                                           strict=True)]

    # ------------------------------------------------------------ tags

    def add_tag(self, psid: str, tag: str) -> None:
        """Add a study tag (editor role) and show it."""
        self.project.tag_study(psid, [tag])
        self._update_tags(psid)

    def remove_tag(self, psid: str, tag: str) -> None:
        """Remove a study tag (editor role)."""
        self.project.untag_study(psid, [tag])
        self._update_tags(psid)

    def _update_tags(self, psid: str) -> None:
        tags = list(self.project.study(psid)["tags"])
        with self.hold_sync():
            self.rows = [{**r, "tags": tags} if r["psid"] == psid else r for r in self.rows]
            self.seq += 1

    # ------------------------------------------------------------ from the page

    def _on_frontend_msg(self, _widget: Any, content: dict, buffers: list) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "tag":
                (self.add_tag if content.get("op") == "add" else self.remove_tag)(
                    str(content["psid"]), str(content["tag"]))
                self.message = ""
            elif kind == "step":
                self.step(int(content.get("step", 1)))
            elif kind == "open":
                self.open_file(str(content["relpath"]), str(content.get("psid") or self.selected),
                               shift=bool(content.get("shift", False)))
            elif kind == "refresh":
                self.refresh()
        except NoraError as exc:  # e.g. PermissionDenied for a reader
            self.message = str(exc)
            self.seq += 1

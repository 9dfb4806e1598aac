"""NORA's PACS Querier as a widget: search a PACS, see patients, studies and series, pull.

>>> q = PacsQuery(proj, node="PACS1")                                    # doctest: +SKIP
>>> q.search(patient_name="Doe^J*", study_date="20200101-20201231")      # doctest: +SKIP
>>> q.select_patient(q.patients[0]["key"])     # highlight that patient's examinations
>>> q.selected_studies = [q.studies[0]["StudyInstanceUID"]]             # doctest: +SKIP
>>> q.pull_selected()                          # C-MOVE/C-GET, import, progress  # doctest: +SKIP

A DICOMweb node (``transport: dicomweb`` in ``pacs.yaml``) works the same: searches are
QIDO-RS, pulls WADO-RS.

Queries and pulls are :mod:`nora_lab.archive.pacs` (NORA's conventions: ``Last^First``,
``*`` wildcards, dates ``20200131``, ranges ``20200101-20201231``, a year ``2020``).
In a pseudonymized project, names and IDs are shown only when ``show_identity`` is on,
which only a user with the identity right (``project.can_see_identity``) may turn on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import pandas as pd
import traitlets as t

from nora_lab.errors import ConfigError, NoraError, PacsError

from ._guard import error_text

if TYPE_CHECKING:
    from nora_lab.archive import Project
    from nora_lab.archive.pacs import PacsConfig

__all__ = ["PacsQuery", "FORM_KEYS"]

_STATIC = Path(__file__).parent / "static"
#: the search form: patient name (``Doe^J*``), ID, birth date, study date (``*``, ranges),
#: modality, study description
FORM_KEYS = ("patient_name", "patient_id", "birth_date", "study_date", "modality",
             "study_description")
_HIDDEN = "•••"
_IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate")


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def _records(df: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    cols = [c for c in columns if c in df.columns]
    return [{c: _plain(v) for c, v in zip(cols, row, strict=True)}
            for row in df[cols].itertuples(index=False)]


#: the pull's progress the page shows (study and series counts, the current study, images)
_PROGRESS: dict[str, Any] = {"done": 0, "total": 0, "running": False}


class PacsQuery(anywidget.AnyWidget):
    """Search a PACS node, browse the results per patient, study and series, pull.

    Parameters
    ----------
    project
        Where pulled studies go (editor role).
    node
        The configured PACS node to ask (default: the first one).
    config
        A :class:`~nora_lab.archive.pacs.PacsConfig` (default: ``pacs_config()``).
    method
        ``"move"`` or ``"get"`` (default: the node's).

    Traits
    ------
    form : dict
        The search fields (:data:`FORM_KEYS`).
    patients, studies, series, sequences : list of dict
        The results: one row per patient (``key``, name, ID, birth date, ``studies``), per
        study (``patient`` key, date, description, modalities, series, instances,
        ``in_project``), per series, and NORA's sequence view with ``in_studies``.
    highlight_patient : str
        The patient whose examinations are highlighted.
    selected_studies, selected_series : list of str
        Study / series instance UIDs to pull.
    progress : dict
        ``{"done", "total", "series_done", "series_total", "current", "running"}``, and
        ``images`` / ``images_total`` of the study being pulled.
    pulled : list of dict
        The pulled studies as they are in the project: ``psid``, date, description,
        ``status``, and the real ``name`` only when ``show_identity`` is on.
    show_identity, can_see_identity, pseudonymized
        The identity toggle, whether this user may turn it on, the project's naming.
    """

    _esm = _STATIC / "tools.js"  # one module for the three tools; `_tool` picks the page
    _tool = t.Unicode("pacsquery").tag(sync=True)

    nodes = t.List(t.Unicode()).tag(sync=True)
    node = t.Unicode("").tag(sync=True)
    form = t.Dict({k: "" for k in FORM_KEYS}).tag(sync=True)
    patients = t.List(t.Dict()).tag(sync=True)
    studies = t.List(t.Dict()).tag(sync=True)
    series = t.List(t.Dict()).tag(sync=True)
    sequences = t.List(t.Dict()).tag(sync=True)
    highlight_patient = t.Unicode("").tag(sync=True)
    selected_studies = t.List(t.Unicode()).tag(sync=True)
    selected_series = t.List(t.Unicode()).tag(sync=True)
    progress = t.Dict(_PROGRESS).tag(sync=True)
    pulled = t.List(t.Dict()).tag(sync=True)
    show_identity = t.Bool(False).tag(sync=True)
    can_see_identity = t.Bool(False).tag(sync=True)
    pseudonymized = t.Bool(False).tag(sync=True)
    status = t.Unicode("").tag(sync=True)
    error = t.Unicode("").tag(sync=True)

    def __init__(self, project: Project, node: str | None = None, *,
                 config: PacsConfig | None = None, method: str | None = None,
                 check_project: bool = True, **kwargs: Any) -> None:
        from nora_lab.archive.pacs import pacs_config

        super().__init__(**kwargs)
        self.project = project
        self.config = config or pacs_config()
        self.method = method
        self.check_project = check_project
        self.nodes = sorted(self.config.nodes)
        self.node = node or (self.nodes[0] if self.nodes else "")
        self.pseudonymized = project.naming == "pseudonym"
        self.can_see_identity = bool(project.can_see_identity)
        self.show_identity = self.can_see_identity and not self.pseudonymized
        self._series = pd.DataFrame()
        self._pulled: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self.observe(self._identity_toggled, names=["show_identity"])
        self.on_msg(self._on_page)

    # --- identity -------------------------------------------------------------------------
    @t.validate("show_identity")
    def _check_identity(self, proposal: dict[str, Any]) -> bool:
        if proposal["value"] and not self.project.can_see_identity:
            self.error = (f"user {self.project.archive.user!r} may not see real identities in "
                          f"project {self.project.name!r} (ask an admin for the identity right)")
            return False
        return bool(proposal["value"])

    def _identity_toggled(self, _change: dict[str, Any]) -> None:
        self._show_results()
        self.pulled = self._pulled_rows()

    @property
    def _reveal(self) -> bool:
        return self.can_see_identity and (self.show_identity or not self.pseudonymized)

    # --- searching ------------------------------------------------------------------------
    def search(self, **criteria: Any) -> pd.DataFrame:
        """Query the node (series level, so every row carries its study and patient);
        ``criteria`` update the form. Returns the series found."""
        from nora_lab.archive.pacs import find_series

        unknown = set(criteria) - set(FORM_KEYS)
        if unknown:
            raise ConfigError(f"PACS query: unknown field(s) {', '.join(sorted(unknown))} "
                            f"(the form has {', '.join(FORM_KEYS)})")
        if criteria:
            self.form = {**self.form, **{k: str(v) for k, v in criteria.items()}}
        if not self.node:
            raise ConfigError("no PACS node configured: add one with pacs_config().add(NAME, "
                            "aet=…, host=…, port=…, save=True)")
        query = {k: v for k, v in self.form.items() if str(v).strip() not in ("", "*")}
        web = self.config.node(self.node).transport == "dicomweb"
        self.status = f"searching {self.node}{' (DICOMweb)' if web else ''} …"
        series = find_series(self.node, config=self.config, **query)
        if self.check_project and not series.empty:
            series = self._mark_archived(series)
        self._series = series
        self.selected_studies, self.selected_series, self.highlight_patient = [], [], ""
        self._show_results()
        self.status = (f"{self.node}: {len(self.patients)} patient(s), {len(self.studies)} "
                       f"stud(ies), {len(series)} series")
        return series

    def _mark_archived(self, series: pd.DataFrame) -> pd.DataFrame:
        """``in_archive`` per series: instances the project holds already (a pull's dry run)."""
        from nora_lab.archive.pacs import pull

        plan = pull(self.node, self.project, series=series, dry_run=True, config=self.config,
                    progress=False)
        held = dict(zip(plan["SeriesInstanceUID"], plan["in_archive"], strict=True))
        out = series.copy()
        out["in_archive"] = [int(held.get(u, 0) or 0) for u in out["SeriesInstanceUID"]]
        return out

    def _show_results(self) -> None:
        from nora_lab.archive.pacs import sequences

        df = self._series
        if df.empty:
            self.patients, self.studies, self.series, self.sequences = [], [], [], []
            return
        df = df.copy()
        for c in (*_IDENTIFYING, "StudyDescription", "StudyDate", "Modality", "SeriesDescription"):
            if c not in df:
                df[c] = ""
        df["patient"] = df["PatientID"].fillna("").astype(str)
        keys = {p: f"patient {i}" for i, p in enumerate(dict.fromkeys(df["patient"]), 1)}
        df["key"] = df["patient"].map(keys)
        n = df.get("NumberOfSeriesRelatedInstances")
        df["_n"] = n.fillna(0).astype(int) if n is not None else 0
        if "in_archive" not in df:
            df["in_archive"] = 0
        pats = df.groupby("key", sort=False).agg(
            PatientName=("PatientName", "first"), PatientID=("PatientID", "first"),
            PatientBirthDate=("PatientBirthDate", "first"),
            studies=("StudyInstanceUID", "nunique"), series=("SeriesInstanceUID", "nunique")
        ).reset_index()
        studies = df.groupby("StudyInstanceUID", sort=False).agg(
            key=("key", "first"), PatientName=("PatientName", "first"),
            StudyDate=("StudyDate", "first"), StudyDescription=("StudyDescription", "first"),
            modalities=("Modality", lambda s: "/".join(sorted(set(s.dropna().astype(str))))),
            series=("SeriesInstanceUID", "nunique"), instances=("_n", "sum"),
            in_archive=("in_archive", "sum")).reset_index()
        studies["in_project"] = studies["in_archive"] >= studies["instances"]
        if not self._reveal:
            for frame in (pats, studies, df):
                for c in _IDENTIFYING:
                    if c in frame:
                        frame[c] = _HIDDEN
        self.patients = _records(pats, ["key", *_IDENTIFYING, "studies", "series"])
        self.studies = _records(studies, ["StudyInstanceUID", "key", "PatientName", "StudyDate",
                                          "StudyDescription", "modalities", "series", "instances",
                                          "in_archive", "in_project"])
        self.series = _records(df, ["SeriesInstanceUID", "StudyInstanceUID", "key", "SeriesNumber",
                                    "Modality", "SeriesDescription", "_n", "in_archive"])
        seq = sequences(self._series)
        self.sequences = _records(seq, ["Modality", "SeriesDescription", "in_studies",
                                        "in_patients", "series", "instances", "StudyInstanceUIDs"])

    def select_patient(self, key: str) -> list[str]:
        """Highlight one patient's examinations; returns their StudyInstanceUIDs."""
        self.highlight_patient = key if key != self.highlight_patient else ""
        return [s["StudyInstanceUID"] for s in self.studies if s["key"] == self.highlight_patient]

    def examinations_of(self, key: str) -> list[str]:
        """The StudyInstanceUIDs of a patient of the results."""
        return [s["StudyInstanceUID"] for s in self.studies if s["key"] == key]

    # --- pulling --------------------------------------------------------------------------
    def _to_pull(self) -> pd.DataFrame:
        df = self._series
        if df.empty:
            raise PacsError("nothing to pull: search first")
        mask = df["StudyInstanceUID"].isin(self.selected_studies) | \
            df["SeriesInstanceUID"].isin(self.selected_series)
        if not mask.any():
            raise PacsError("nothing selected: tick studies or series of the results to pull")
        return df[mask]

    def pull_selected(self, *, wait: bool = True) -> pd.DataFrame | None:
        """Pull the selected studies and series into the project, one study at a time
        (``progress`` counts studies and series); returns one row per series."""
        todo = self._to_pull()
        if self._thread is not None and self._thread.is_alive():
            raise PacsError("a pull is running already: wait for it to end")
        if not wait:
            self._thread = threading.Thread(target=self._pull_guarded, args=(todo,), daemon=True,
                                            name="nora-pacs-pull")
            self._thread.start()
            return None
        return self._pull(todo)

    def _pull_guarded(self, todo: pd.DataFrame) -> None:
        try:
            self._pull(todo)
        except Exception as exc:  # noqa: BLE001 - the thread's error reaches the page
            self.error = error_text(exc)
            self.progress = {**self.progress, "running": False}

    def _images_progress(self, every: float = 0.25) -> Callable[[int, int], None]:
        """A ``pull(progress=…)`` callback: ``progress["images"]`` / ``["images_total"]``
        of the study being pulled, sent at most every ``every`` seconds (and at the end)."""
        last = [0.0]

        def tell(done: int, total: int) -> None:
            now = time.monotonic()
            if done >= total or now - last[0] >= every:
                last[0] = now
                self.progress = {**self.progress, "images": done, "images_total": total}

        return tell

    def _pull(self, todo: pd.DataFrame) -> pd.DataFrame:
        from nora_lab.archive.pacs import pull

        groups = list(todo.groupby("StudyInstanceUID", sort=False))
        n_series = len(todo)
        results = []
        done_series = 0
        self.progress = {"done": 0, "total": len(groups), "series_done": 0,
                         "series_total": n_series, "current": "", "running": True}
        for k, (uid, part) in enumerate(groups):
            current = part["StudyDescription"].iloc[0] if "StudyDescription" in part else uid
            self.progress = {**self.progress, "current": str(current)}
            res = pull(self.node, self.project, series=part, method=self.method,
                       config=self.config, progress=self._images_progress())
            results.append(res)
            done_series += len(part)
            self.progress = {**self.progress, "done": k + 1, "series_done": done_series}
            self._record(res)
        out = pd.concat(results, ignore_index=True) if results else pd.DataFrame()
        bad = out[~out["status"].isin(["imported", "already imported"])] if len(out) else out
        if self.check_project:
            self._series = self._mark_archived(self._series)
            self._show_results()
        incomplete = (f"; {len(bad)} series not complete: {bad['reason'].iloc[0]}"
                      if len(bad) else "")
        self.status = f"pulled {len(groups)} stud(ies), {n_series} series{incomplete}"
        # last: the page waits on it
        self.progress = {**self.progress, "running": False, "current": ""}
        return out

    def _record(self, res: pd.DataFrame) -> None:
        for psid, rows in res.groupby("psid", sort=False, dropna=True):
            if not psid:
                continue
            statuses = "/".join(sorted(set(rows["status"])))
            self._pulled = [p for p in self._pulled if p["psid"] != psid]
            self._pulled.append({"psid": str(psid), "status": statuses,
                                 "series": int(len(rows))})
        self.pulled = self._pulled_rows()

    def _pulled_rows(self) -> list[dict[str, Any]]:
        """The pulled studies as the project has them (pseudonyms unless revealed)."""
        rows = []
        for p in self._pulled:
            try:
                info = self.project.study(p["psid"])
            except NoraError:
                info = {}
            row = {**p, "date": _plain(info.get("date")),
                   "description": _plain(info.get("description"))}
            if self.show_identity and self.can_see_identity and self.pseudonymized:
                ident = self.project.identity(p["psid"].partition("#")[0])
                row["name"] = _plain(ident.get("name"))
                row["real_id"] = _plain(ident.get("id"))
            rows.append(row)
        return rows

    # --- the page -------------------------------------------------------------------------
    def _on_page(self, _w: Any, content: dict[str, Any], _buffers: Any) -> None:
        actions: dict[str, Callable[[], Any]] = {
            "search": lambda: self.search(**{k: v for k, v in content.get("form", {}).items()
                                             if k in FORM_KEYS}),
            "patient": lambda: self.select_patient(str(content["key"])),
            "pull": lambda: self.pull_selected(wait=False),
        }
        action = content.get("action")
        if action in actions:
            self.error = ""
            try:
                actions[action]()
            except Exception as exc:  # noqa: BLE001 - every error reaches the page
                self.error = error_text(exc)
                self.status = ""

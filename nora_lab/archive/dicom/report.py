"""The import report: what was converted, what was not and why.

Every series of the source ends in exactly one :class:`SeriesReport` (converted,
already imported, partly converted, or failed), and every file that was not imported
in a :class:`~nora_lab.archive.dicom._scan.Skipped` with its path and reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nora_lab.archive.dicom._scan import Skipped

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ImportReport", "SeriesReport", "Skipped", "STATUSES", "MEANWHILE", "CONFLICT"]

#: The status of a series imported by another import that ran at the same time.
MEANWHILE = "imported by another import"
#: The status of a series whose SOP instances are in the archive with other pixel data.
CONFLICT = "conflict"

#: converted: every output entered the archive; partial: some outputs were refused;
#: already imported: every instance was in the archive before; imported by another
#: import: one running at the same time filed it first; conflict: its SOP instance UIDs
#: are in the archive with other pixel data (nothing changed); failed: nothing entered.
STATUSES = ("converted", "partial", "already imported", MEANWHILE, CONFLICT, "failed")


@dataclass
class SeriesReport:
    """One series of the import."""

    psid: str
    series_folder: str
    series_uid: str
    series_number: int | None
    description: str
    instances: int
    status: str = "failed"
    files: list[str] = field(default_factory=list)  # paths relative to the study folder
    notes: list[str] = field(default_factory=list)  # geometry seen in the headers
    messages: list[str] = field(default_factory=list)  # dcm2niix's lines
    problems: list[str] = field(default_factory=list)  # why an output or the series failed
    seconds: float = 0.0

    def __str__(self) -> str:
        head = (f"{self.status:>16}  {self.psid}/{self.series_folder}  "
                f"({self.instances} instance{'s' * (self.instances != 1)}"
                f"{', ' + str(len(self.files)) + ' files' if self.files else ''})")
        lines = [head]
        lines += [f"{'':18}problem: {p}" for p in self.problems]
        lines += [f"{'':18}note: {n}" for n in self.notes]
        lines += [f"{'':18}dcm2niix: {m}" for m in self.messages if _worth_showing(m)]
        return "\n".join(lines)


def _worth_showing(message: str) -> bool:
    return not message.startswith("Convert ")


@dataclass
class ImportReport:
    """What :func:`~nora_lab.archive.dicom.import_dicom` did.

    ``str(report)`` is a readable summary; :meth:`to_frame` a table with one row per
    series and per skipped or extra file.
    """

    project: str
    source: str
    series: list[SeriesReport] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)  # "<psid>/<relpath>" of kept non-DICOM files
    studies: list[str] = field(default_factory=list)  # PSIDs that received new files
    warnings: list[str] = field(default_factory=list)  # import-level (hooks, cleanup, …)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no series failed or was only partly converted."""
        return all(s.status in ("converted", "already imported", MEANWHILE)
                   for s in self.series)

    def count(self, status: str) -> int:
        return sum(s.status == status for s in self.series)

    def files(self) -> list[str]:
        """Every archive file written, as ``"<psid>/<relpath>"``."""
        return [f"{s.psid}/{f}" for s in self.series for f in s.files] + list(self.extras)

    def to_frame(self) -> pd.DataFrame:
        """One row per series (kind ``series``), skipped file and kept extra file."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for s in self.series:
            rows.append({"kind": "series", "status": s.status, "psid": s.psid,
                         "series": s.series_folder, "series_number": s.series_number,
                         "description": s.description, "instances": s.instances,
                         "files": list(s.files), "path": None,
                         "reason": "; ".join(s.problems) or None,
                         "notes": "; ".join(s.notes) or None,
                         "warnings": "; ".join(m for m in s.messages
                                               if m.lower().startswith(("warning", "error")))
                         or None,
                         "seconds": round(s.seconds, 3)})
        for k in self.skipped:
            rows.append({"kind": "skipped", "status": "skipped", "path": k.path,
                         "reason": k.reason})
        for e in self.extras:
            psid, _, rel = e.partition("/")
            rows.append({"kind": "extra", "status": "kept", "psid": psid, "files": [rel]})
        columns = ["kind", "status", "psid", "series", "series_number", "description",
                   "instances", "files", "path", "reason", "notes", "warnings", "seconds"]
        return pd.DataFrame(rows, columns=columns)

    def summary(self) -> str:
        n_sub = len({p.split("#")[0] for p in self.studies})
        parts = [f"{self.count(s)} {s}" for s in STATUSES if self.count(s)]
        return (f"DICOM import into {self.project!r} from {self.source}: "
                f"{len(self.series)} series ({', '.join(parts) or 'none'}); "
                f"{len(self.studies)} stud{'y' if len(self.studies) == 1 else 'ies'} of "
                f"{n_sub} subject{'s' * (n_sub != 1)} updated; "
                f"{len(self.skipped)} file{'s' * (len(self.skipped) != 1)} skipped; "
                f"{self.seconds:.1f} s")

    def __str__(self) -> str:
        lines = [self.summary()]
        lines += [str(s) for s in self.series]
        if self.skipped:
            lines.append(f"skipped files ({len(self.skipped)}):")
            lines += [f"  {k.path}: {k.reason}" for k in self.skipped[:50]]
            if len(self.skipped) > 50:
                lines.append(f"  … and {len(self.skipped) - 50} more (see .to_frame())")
        if self.extras:
            lines.append(f"extra files kept ({len(self.extras)}): " + ", ".join(self.extras[:10]))
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return (f"<p>{html.escape(self.summary())}</p>"
                + self.to_frame().to_html(max_rows=200, na_rep=""))

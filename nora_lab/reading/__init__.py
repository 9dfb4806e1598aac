"""NORA's reading tool: controlled reading studies with rater-agreement statistics.

>>> from nora_lab.reading import Reading                     # doctest: +SKIP
>>> r = Reading.create(proj, "lesions", config)     # project admin; docs/reading-format.md
>>> s = Reading.open(arc.project("demo"), "lesions").session("serious")
>>> s.current, s.progress_text; s.submit({"lesion": "yes"})
>>> from nora_lab.reading import agreement
>>> agreement.agreement(r.results(), r.config.form)

The notebook widget is :class:`nora_lab.widgets.reading.ReadingWidget`; the standalone
app is :func:`serve` (``panel serve``). Names load lazily, so importing this package
stays cheap. The results table belongs to the archive's schema
(``nora_lab.archive._reading_results``); this package reads and writes its rows.
"""

from __future__ import annotations

from nora_lab._lazy import lazy_names

__all__ = ["Reading", "ReadingConfig", "ReadingSession", "Form", "list_readings", "read_csv",
           "serve", "app"]

_LAZY = {"Reading": "readings", "list_readings": "readings", "ReadingConfig": "config",
         "ReadingSession": "session", "Form": "forms", "read_csv": "results",
         "serve": "panel_app", "app": "panel_app"}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)


"""BIDS out and in: export a project (or filtered studies) as a BIDS dataset, import one.

>>> from nora_lab.archive.bids import export_bids, import_bids, validate_bids
>>> out = export_bids(proj, "/tmp/bids", filters={"subject": "STAG:control"})  # doctest: +SKIP
>>> validate_bids(out.path).errors                                             # doctest: +SKIP
[]
>>> import_bids(other_project, "/tmp/bids")                                    # doctest: +SKIP

Modules: :mod:`.naming` (dcm2niix sidecar → ``anat/T1w`` …, overridable), :mod:`.export`,
:mod:`.importer` (pybids), :mod:`.validator` (the official validator, run as a program).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = ["export_bids", "BidsExport", "import_bids", "BidsImport", "validate_bids",
           "BidsValidation", "bids_name", "BidsName"]

_WHERE = {"export_bids": "export", "BidsExport": "export", "import_bids": "importer",
          "BidsImport": "importer", "validate_bids": "validator",
          "BidsValidation": "validator", "bids_name": "naming", "BidsName": "naming"}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.bids.export import BidsExport, export_bids
    from nora_lab.archive.bids.importer import BidsImport, import_bids
    from nora_lab.archive.bids.naming import BidsName, bids_name
    from nora_lab.archive.bids.validator import BidsValidation, validate_bids

__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)

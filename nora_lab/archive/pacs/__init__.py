"""PACS client and DICOM node: query/retrieve from a PACS, receive pushes, send back.

The public API::

    from nora_lab.archive.pacs import (pacs_config, echo, find_studies, find_series,
                                       sequences, pull, push, DicomNode)
    cfg = pacs_config()                                   # $NORA_HOME/pacs.yaml
    cfg.add("PACS1", aet="ORTHANC", host="pacs", port=4242, save=True)
    echo("PACS1")
    series = find_series("PACS1", patient_name="Doe^J*", study_date="2020")
    pull("PACS1", project, series=series, dry_run=True)   # what would be pulled
    pull("PACS1", project, series=series)                 # C-MOVE to our node, import
    push("PACS1", seg_dataset)                            # C-STORE back
    DicomNode(archive, project="demo").start()            # `nora --node start`

Submodules load lazily: ``import nora_lab.archive.pacs`` costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = ["PacsNode", "LocalNode", "PacsConfig", "pacs_config", "get_node", "echo", "find",
           "find_patients", "find_studies", "find_series", "find_instances", "sequences",
           "pull", "push", "push_study", "DicomNode", "Incoming"]

_WHERE = {
    "PacsNode": "nodes", "LocalNode": "nodes", "PacsConfig": "nodes", "pacs_config": "nodes",
    "get_node": "nodes", "echo": "query", "find": "query", "find_patients": "query",
    "find_studies": "query", "find_series": "query", "find_instances": "query",
    "sequences": "query", "pull": "retrieve", "push": "store", "push_study": "store",
    "DicomNode": "scp", "Incoming": "incoming",
}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.pacs.incoming import Incoming
    from nora_lab.archive.pacs.nodes import LocalNode, PacsConfig, PacsNode, get_node, pacs_config
    from nora_lab.archive.pacs.query import (
        echo,
        find,
        find_instances,
        find_patients,
        find_series,
        find_studies,
        sequences,
    )
    from nora_lab.archive.pacs.retrieve import pull
    from nora_lab.archive.pacs.scp import DicomNode
    from nora_lab.archive.pacs.store import push, push_study


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)

"""Models stored in the project, like its batches and autoloaders.

A model's record lives in the project's JSON store (kind ``"model"``, by name: listed
with ``project.list_json("model")``, shown by :func:`list_models`); its files live in the
project's work area ``<project>/.nora/models/<name>/`` (skipped by ``nora --fsck`` like the
batch layer's logs):

* ``model.json`` — the record again, so a batch worker loads the model without the
  database;
* ``weights.pt`` (trained here), or ``model.ts``, ``model.onnx`` or ``bundle/``
  (brought in with :func:`~nora_lab.segment.import_model`);
* ``log.jsonl``, ``progress.json``, ``checkpoint.pt`` — training (:mod:`.training`).

The record holds ``name, kind, config, status, trained_on, validated_on, versions,
created, finished, result, weights_sha256``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nora_lab.archive.layout import atomic_target, safe_name
from nora_lab.errors import NotFoundError, SegmentError

if TYPE_CHECKING:
    import pandas as pd

    from nora_lab.archive import Project

__all__ = ["KIND", "model_folder", "save_record", "get_record", "list_models", "delete_model",
           "versions", "now", "RECORD", "describe"]

KIND = "model"
RECORD = "model.json"
_LIBRARIES = ("torch", "monai", "numpy", "nibabel", "onnxruntime", "nora_lab")


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """The versions of the libraries a model is trained and applied with."""
    out = {}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def model_folder(project: Project, name: str) -> Path:
    """``<project>/.nora/models/<name>``: where the model's files are."""
    if safe_name(name) != name:
        raise SegmentError(f"model name {name!r}: use letters, digits and . _ + = @ , - "
                           f"(e.g. {safe_name(name)!r})")
    return project.root / ".nora" / "models" / name


def save_record(project: Project, name: str, record: dict[str, Any]) -> None:
    """Store the record in the JSON store and as ``model.json`` in the model's folder."""
    folder = model_folder(project, name)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_target(folder / RECORD, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    project.put_json(KIND, name, record)


def get_record(project: Project, name: str) -> dict[str, Any]:
    """The stored record of a model.

    Raises
    ------
    NotFoundError
        If the project has no model of that name (the message lists those it has).
    """
    try:
        return dict(project.get_json(KIND, name))
    except NotFoundError:
        have = ", ".join(project.list_json(KIND)["name"]) or "none yet"
        raise NotFoundError(f"no model {name!r} in project {project.name!r} (models: {have}); "
                            "train one with nora_lab.segment.train or bring one with "
                            "import_model") from None


def list_models(project: Project) -> pd.DataFrame:
    """The project's models: ``name, kind, status, classes, images, trained_on, dice,
    user, modified``."""
    import pandas as pd

    rows = []
    for r in project.list_json(KIND).itertuples():
        rec = project.get_json(KIND, r.name) or {}
        cfg = rec.get("config") or {}
        rows.append({"name": r.name, "kind": rec.get("kind"), "status": rec.get("status"),
                     "classes": cfg.get("classes"), "images": cfg.get("images"),
                     "trained_on": len(rec.get("trained_on") or []),
                     "dice": (rec.get("result") or {}).get("best"),
                     "user": r.user, "modified": r.modified})
    return pd.DataFrame(rows, columns=["name", "kind", "status", "classes", "images",
                                       "trained_on", "dice", "user", "modified"])


def delete_model(project: Project, name: str) -> None:
    """Remove a model's record and files (its predictions stay in the studies)."""
    import shutil

    get_record(project, name)
    project.delete_json(KIND, name)
    folder = model_folder(project, name)
    if folder.exists():
        trash = folder.with_name(f".nora-tmp-{os.getpid()}-{name}")
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)


def describe(project: Project, name: str) -> dict[str, Any]:
    """A model's record with its folder and the last epoch of its training log."""
    from nora_lab.segment.training import read_log

    rec = get_record(project, name)
    folder = model_folder(project, name)
    log = read_log(folder)
    return {**rec, "folder": str(folder), "epochs_logged": len(log),
            "last_epoch": log[-1] if log else None}

"""Import a BIDS dataset into a project (read with pybids).

Each ``sub-<label>`` becomes a subject (its ``participants.tsv`` row its metadata; in a
pseudonymized project the label is the real ID and gets a pseudonym), each ``ses-<label>``
a study (``"1"`` in a dataset without sessions), and each file of a subject a file of the
study at ``<datatype>/<BIDS file name>``, tagged with its datatype and suffix. An image's
metadata is its sidecar with BIDS inheritance applied (pybids), stored beside it as
``<stem>.json`` too, so that it exports back the same way.

Every file is checked before anything is written: a name that is not BIDS (the
validator's filename rules, :class:`bids_validator.BIDSValidator`; files matching
``.bidsignore`` are left out) or an image that is not NIfTI stops the import with a
:class:`~nora_lab.errors.ForeignDataError` naming the file. Each study's files are added
in one transaction; a re-run adds nothing twice.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nora_lab.archive._files import NewFile
from nora_lab.errors import ForeignDataError

if TYPE_CHECKING:
    import pandas as pd

    from nora_lab.archive.project import Project

__all__ = ["import_bids", "BidsImport", "IMPORT_COLUMNS"]

#: The columns of :attr:`BidsImport.table`.
IMPORT_COLUMNS = ["bids_path", "psid", "relpath", "tags"]
_TOP_LEVEL_OK = ("dataset_description.json", "README", "README.md", "README.txt", "CHANGES",
                 "LICENSE", "participants.tsv", "participants.json", ".bidsignore")
_SKIP_DIRS = ("derivatives", "sourcedata", "code", "stimuli")


@dataclass
class BidsImport:
    """What :func:`import_bids` registered: one ``table`` row per file."""

    path: Path
    table: pd.DataFrame

    def __str__(self) -> str:
        return (f"BIDS import from {self.path}: {len(self.table)} files in "
                f"{self.table.psid.nunique()} studies")


def import_bids(project: Project, source: str | os.PathLike[str], *,
                tags: Iterable[str] = ()) -> BidsImport:
    """Import the BIDS dataset at ``source`` into ``project``.

    Parameters
    ----------
    project
        The project to import into (editor role).
    source
        The dataset's folder (holding ``dataset_description.json``).
    tags
        More tags for every imported file.

    Returns
    -------
    BidsImport

    Raises
    ------
    ForeignDataError
        No ``dataset_description.json``, a file whose name is not BIDS, or an image that
        is not NIfTI; nothing is written then.
    """
    import pandas as pd
    from bids import BIDSLayout

    root = Path(source).expanduser().absolute()
    desc = root / "dataset_description.json"
    try:
        json.loads(desc.read_text())
    except (OSError, ValueError) as exc:
        raise ForeignDataError(f"{root} is not a BIDS dataset: {desc} is missing or not "
                               f"JSON ({exc})") from None
    ignored = _bidsignore(root)
    _check_names(root, ignored)
    layout = BIDSLayout(str(root), validate=False)
    participants = _participants(root)
    plan: dict[tuple[str, str], list[tuple[NewFile, str]]] = {}
    for f in layout.get(return_type="object"):
        ents = f.get_entities()
        if "subject" not in ents or _ignored(Path(f.path).relative_to(root), ignored):
            continue
        path = Path(f.path)
        datatype = str(ents.get("datatype") or "")
        relpath = f"{datatype}/{path.name}" if datatype else path.name
        key = (str(ents["subject"]), str(ents.get("session", "1")))
        ftags = list(dict.fromkeys([t for t in (datatype, ents.get("suffix")) if t]
                                   + list(tags)))
        ext = str(ents.get("extension", ""))
        if ext in (".nii", ".nii.gz"):
            _check_nifti(path)
            meta = layout.get_metadata(f.path)
            stem = relpath[: -len(ext)]
            plan.setdefault(key, []).append(
                (NewFile(stem + ".json", data=json.dumps(meta, indent=1).encode()), str(path)))
            plan[key].append((NewFile(relpath, src=path, meta=meta, tags=ftags), str(path)))
        elif ext == ".json" and _has_image(path):
            continue  # the image's merged metadata is written instead
        else:
            plan.setdefault(key, []).append((NewFile(relpath, src=path, tags=ftags), str(path)))
    rows = []
    for (sub, ses), files in sorted(plan.items()):
        info = participants.get(sub, {})
        subject = project.add_subject(sub, meta=info or None)
        if info.get("tags"):  # what a nora_lab export wrote
            project.tag_subject(subject, info["tags"].split(","))
        psid = project.add_study(subject, ses)
        project.add_files(psid, [nf for nf, _ in files])
        rows += [[src, psid, nf.relpath, list(nf.tags)] for nf, src in files]
    return BidsImport(root, pd.DataFrame(rows, columns=IMPORT_COLUMNS))


def _bidsignore(root: Path) -> list[str]:
    """The glob patterns of the dataset's ``.bidsignore`` (as the validator reads them)."""
    path = root / ".bidsignore"
    if not path.exists():
        return []
    lines = (ln.strip() for ln in path.read_text().splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _ignored(rel: Path, patterns: list[str]) -> bool:
    text = rel.as_posix()
    for pat in patterns:
        pat = pat.lstrip("/").rstrip("/")
        if fnmatch.fnmatch(text, pat) or fnmatch.fnmatch(rel.name, pat) or \
                fnmatch.fnmatch(text, pat + "/*") or fnmatch.fnmatch(text, "*/" + pat):
            return True
    return False


def _check_names(root: Path, ignored: list[str]) -> None:
    """Every file's name is BIDS, else a ForeignDataError naming the first one that is not."""
    from bids_validator import BIDSValidator

    validator = BIDSValidator()
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if here == root:
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
        for name in sorted(files):
            rel = "/" + (here / name).relative_to(root).as_posix()
            if here == root and name in _TOP_LEVEL_OK or \
                    _ignored((here / name).relative_to(root), ignored):
                continue
            if name.startswith(".") or not validator.is_bids(rel):
                raise ForeignDataError(
                    f"{here / name}: not a BIDS file name (e.g. sub-<label>[/ses-<label>]/"
                    "anat/sub-<label>[_ses-<label>]_T1w.nii.gz); nothing was imported. "
                    "Rename or remove it, or list it in .bidsignore")


def _check_nifti(path: Path) -> None:
    from nora_lab.archive.filetypes import filetype

    if filetype(path) != "nifti":
        raise ForeignDataError(f"{path}: not a NIfTI image (its name says it is one); "
                               "nothing was imported")


def _has_image(sidecar: Path) -> bool:
    stem = sidecar.name[: -len(".json")]
    return any((sidecar.parent / (stem + ext)).exists() for ext in (".nii.gz", ".nii"))


def _participants(root: Path) -> dict[str, dict[str, Any]]:
    import pandas as pd

    tsv = root / "participants.tsv"
    if not tsv.exists():
        return {}
    try:
        df = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ForeignDataError(f"{tsv}: not a readable TSV ({exc})") from None
    if "participant_id" not in df.columns:
        raise ForeignDataError(f"{tsv}: no participant_id column (found {list(df.columns)})")
    return {str(r["participant_id"]).removeprefix("sub-"):
            {k: v for k, v in r.items() if k != "participant_id" and v not in ("", "n/a")}
            for r in df.to_dict("records")}

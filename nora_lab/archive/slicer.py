"""3D Slicer scenes in and segmentations out (read and written with slicerio).

>>> import_mrb(proj, "P01#1", "case.mrb")                       # doctest: +SKIP
>>> export_seg_nrrd(proj, "P01#1", "/tmp/rois.seg.nrrd")        # doctest: +SKIP

An MRB is a zip holding one ``.mrml`` scene and the files its storage nodes name. The
import takes what the scene references:

* volumes (``.nrrd``, ``.nhdr``, ``.nii``, ``.nii.gz``) become files of the study, as
  they are, under ``slicer/``;
* each segment of a segmentation (``.seg.nrrd``, overlapping layers too) becomes an ROI,
  ``rois/<name>.nii.gz`` tagged ``roi``, with its name, colour (``#rrggbb``) and
  terminology in the file's metadata — what the ROI tool opens;
* markups (``.fcsv``, ``.mrk.json``) become point sets, ``annotations/<name>.ano.json``
  in NORA's annotation format (RAS mm; Slicer's LPS points are converted).

Everything is read and checked before anything is written, and the files are added in
one transaction: a broken scene (not a zip, no scene, a file the scene names missing or
unreadable) raises :class:`~nora_lab.errors.ForeignDataError` naming the MRB and the
member, and leaves the study as it was. Importing the same scene again changes nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from nora_lab.archive._files import NewFile
from nora_lab.archive._roifiles import roi_file, unique_name
from nora_lab.archive.layout import atomic_target
from nora_lab.errors import ForeignDataError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from nora_lab.archive.project import Project

__all__ = ["import_mrb", "export_seg_nrrd", "MRB_COLUMNS"]

#: The columns of :func:`import_mrb`'s table.
MRB_COLUMNS = ["member", "kind", "name", "relpath"]
_LPS_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_VOLUME_EXT = (".nrrd", ".nhdr", ".nii", ".nii.gz")
_MARKUP_EXT = (".fcsv", ".mrk.json", ".json")
#: Colours for ROIs that carry none (Slicer's first generic anatomy colours).
PALETTE = ("#80ae80", "#f1d691", "#b17a65", "#6fb8d2", "#d8654f", "#dd8265", "#90ee90")


def import_mrb(project: Project, psid: str, mrb: str | os.PathLike[str], *,
               tags: Iterable[str] = ()) -> pd.DataFrame:
    """Import a Slicer scene (``.mrb``) into an existing study.

    Parameters
    ----------
    project
        The project (editor role).
    psid
        The study, ``"<subject>#<study>"``.
    mrb
        The scene bundle.
    tags
        More tags for every file added.

    Returns
    -------
    pandas.DataFrame
        One row per file added (:data:`MRB_COLUMNS`; ``kind``: volume, roi, pointset).

    Raises
    ------
    ForeignDataError
        The MRB is not a zip, has no scene, or a file the scene names is missing or
        unreadable (nothing is added then).
    NotFoundError
        No such study.
    """
    import pandas as pd

    mrb = Path(mrb)
    project.study(psid)  # NotFoundError first
    with tempfile.TemporaryDirectory(prefix="nora-mrb-") as tmp:
        members = _unpack(mrb, Path(tmp))
        rows: list[list[str]] = []
        files: list[NewFile] = []
        used: set[str] = set()
        for member, path, kind, name in members:
            for nf, what, label in _convert(mrb, member, path, kind, name, used):
                files.append(NewFile(nf.relpath, src=nf.src, data=nf.data, meta=nf.meta,
                                     tags=[*nf.tags, *tags]))
                rows.append([member, what, label, nf.relpath])
        project.add_files(psid, files)
    return pd.DataFrame(rows, columns=MRB_COLUMNS)


def _unpack(mrb: Path, dest: Path) -> list[tuple[str, Path, str, str]]:
    """The scene's referenced files, extracted: (member, path, kind, node name)."""
    try:
        zf = zipfile.ZipFile(mrb)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ForeignDataError(f"{mrb}: not a Slicer scene bundle (.mrb is a zip): "
                               f"{exc}") from None
    with zf:
        scenes = [n for n in zf.namelist() if n.lower().endswith(".mrml")]
        if len(scenes) != 1:
            raise ForeignDataError(f"{mrb}: expected one .mrml scene in the bundle, found "
                                   f"{len(scenes)} ({scenes[:3]})")
        scene = scenes[0]
        try:
            root = ET.fromstring(zf.read(scene))
        except (ET.ParseError, zipfile.BadZipFile, OSError) as exc:
            raise ForeignDataError(f"{mrb}: its scene {scene} is not readable MRML "
                                   f"({exc})") from None
        base = PurePosixPath(scene).parent
        storage = {el.get("id"): el.get("fileName") for el in root.iter()
                   if el.get("fileName")}
        names = set(zf.namelist())
        out: list[tuple[str, Path, str, str]] = []
        for el in root.iter():
            ref = el.get("storageNodeRef")
            if not ref or storage.get(ref.split()[0]) is None:
                continue
            rel = urllib.parse.unquote(storage[ref.split()[0]] or "")
            member = str(base / rel) if str(base) != "." else rel
            member = os.path.normpath(member).replace(os.sep, "/")
            if member not in names:
                raise ForeignDataError(f"{mrb}: the scene names {rel!r} (node "
                                       f"{el.get('name')!r}) but the bundle has no {member}")
            kind = _kind(member)
            if kind is None:
                continue
            target = dest / f"{len(out)}-{PurePosixPath(member).name}"
            try:
                target.write_bytes(zf.read(member))
            except (zipfile.BadZipFile, OSError, zlib.error) as exc:
                raise ForeignDataError(f"{mrb}: cannot read {member} ({exc})") from None
            out.append((member, target, kind, el.get("name") or PurePosixPath(member).stem))
    if not out:
        raise ForeignDataError(f"{mrb}: its scene references no volume, segmentation or "
                               "markups file")
    return out


def _kind(member: str) -> str | None:
    low = member.lower()
    if low.endswith(".seg.nrrd"):
        return "segmentation"
    if low.endswith(_VOLUME_EXT):
        return "volume"
    if low.endswith(_MARKUP_EXT):
        return "markups"
    return None


def _convert(mrb: Path, member: str, path: Path, kind: str, name: str,
             used: set[str]) -> list[tuple[NewFile, str, str]]:
    where = f"{mrb}: {member}"
    try:
        if kind == "volume":
            return [(_volume(path, member), "volume", name)]
        if kind == "segmentation":
            return _segments(path, used)
        return [_markups(path, member, name, used)]
    except ForeignDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure names the member
        raise ForeignDataError(f"{where}: cannot read this {kind} "
                               f"({type(exc).__name__}: {exc})") from None


def _volume(path: Path, member: str) -> NewFile:
    from nora_lab.archive.filetypes import filetype

    if filetype(path) not in ("nrrd", "nifti"):
        raise ForeignDataError(f"{member}: not an NRRD or NIfTI volume")
    if member.lower().endswith(".nhdr"):
        raise ForeignDataError(f"{member}: detached NRRD headers (.nhdr) are not supported; "
                               "save the volume as .nrrd in Slicer")
    return NewFile(f"slicer/{PurePosixPath(member).name}", src=path, tags=["slicer"])


def _segments(path: Path, used: set[str]) -> list[tuple[NewFile, str, str]]:
    import slicerio

    seg = slicerio.read_segmentation(str(path))
    affine = _LPS_RAS @ np.asarray(seg["ijkToLPS"], dtype=float)
    out = []
    for n, segment in enumerate(seg["segments"]):
        mask = np.asarray(slicerio.segment_mask(seg, segment["id"]), dtype=np.uint8)
        name = str(segment.get("name") or segment["id"])
        meta: dict[str, Any] = {"color": _hex(segment.get("color"), n),
                                "segment_id": segment["id"], "source": "3D Slicer"}
        if segment.get("terminology"):
            meta["terminology"] = segment["terminology"]
        out.append((roi_file(mask, affine, name, used, meta=meta), "roi", name))
    return out


def _hex(color: Any, n: int) -> str:
    if color is None or len(color) < 3:
        return PALETTE[n % len(PALETTE)]
    return "#" + "".join(f"{int(round(float(c) * 255)):02x}" for c in color[:3])


def _markups(path: Path, member: str, name: str, used: set[str]) -> tuple[NewFile, str, str]:
    import slicerio

    if member.lower().endswith(".fcsv"):
        doc = slicerio.read_markups_fcsv(str(path))
    else:
        doc = json.loads(path.read_text())
    sets = []
    for m in doc.get("markups", []):
        flip = np.array([-1.0, -1.0, 1.0]) if m.get("coordinateSystem", "LPS") == "LPS" \
            else np.ones(3)
        points = []
        for i, cp in enumerate(m.get("controlPoints", [])):
            if "position" not in cp:
                raise ForeignDataError(f"{member}: control point {i} has no position")
            points.append({"name": cp.get("label") or f"{name}-{i + 1}",
                           "coords": [float(v) for v in np.asarray(cp["position"]) * flip],
                           "size": 1.0})
        sets.append({"type": "pointset", "name": name, "state": None, "points": points})
    if not sets:
        raise ForeignDataError(f"{member}: no markups in it")
    fname = unique_name(name, used, "points")
    data = json.dumps({"annotations": sets}, indent=1, sort_keys=True).encode()
    return NewFile(f"annotations/{fname}.ano.json", data=data, tags=["pointset"]), \
        "pointset", name


def export_seg_nrrd(project: Project, psid: str, dest: str | os.PathLike[str], *,
                    pattern: str = "rois/*", overwrite: bool = False) -> Path:
    """Write the study's ROIs (files tagged ``roi`` matching ``pattern``) as one Slicer
    ``.seg.nrrd``, a segment each, with their names and colours.

    Raises
    ------
    NotFoundError
        The study has no ROI matching ``pattern``.
    ForeignDataError
        The ROIs are not on one voxel grid (resample them onto one first).
    AlreadyExistsError
        ``dest`` exists and ``overwrite`` is false.
    """
    import nibabel as nib
    import slicerio

    files = project.files(pattern, psid=psid, tags=["roi"])
    if files.empty:
        raise NotFoundError(f"study {psid!r} has no ROI matching {pattern!r} (files tagged "
                            "'roi', e.g. rois/<name>.nii.gz)")
    seg: Any = None
    grid: tuple[Any, Any] = ((), None)
    first = ""
    for n, row in enumerate(files.itertuples()):
        img: Any = nib.load(row.path)
        meta = project.file_meta(row.path)
        if seg is None:
            seg = slicerio.create_segmentation(img.shape[:3], _LPS_RAS @ img.affine)
            grid, first = (img.shape[:3], img.affine), row.relpath
        elif img.shape[:3] != grid[0] or not np.allclose(img.affine, grid[1], atol=1e-4):
            raise ForeignDataError(
                f"{row.path}: not on the voxel grid of {first} ({img.shape[:3]} vs "
                f"{grid[0]}); a .seg.nrrd holds segments of one grid: resample the ROIs")
        name = str(meta.get("name") or Path(row.name).name.split(".")[0])
        color = str(meta.get("color") or PALETTE[n % len(PALETTE)])
        rgb = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        slicerio.add_segment(seg, np.asarray(img.dataobj)[..., 0] > 0 if img.ndim == 4
                             else np.asarray(img.dataobj) > 0, {"name": name, "color": rgb})
    out = Path(dest)
    with atomic_target(out, overwrite=overwrite) as tmp:
        slicerio.write_segmentation(str(tmp), seg)
    return out

"""Training data from the project: each study's contrasts and labels, on one grid.

:func:`find_cases` resolves a model's patterns in the selected studies (every problem of
every study in one error); :func:`load_case` reads one study's volumes and brings the
other contrasts and the labels onto the first contrast's grid through world coordinates
(:func:`nora_lab.imaging.resample.resample_to_grid`), refusing what cannot be put there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nora_lab.errors import SegmentError
from nora_lab.segment.config import ModelConfig

if TYPE_CHECKING:
    from nora_lab.archive import Project

__all__ = ["Case", "Volume", "find_cases", "load_case", "load_images", "select_studies"]

#: the fraction of the image the labels' (or another contrast's) field of view must cover
MIN_COVER = 0.95


@dataclass(frozen=True)
class Case:
    """One study's input files: contrasts in channel order, labels (one per class or one
    label map; empty when only images are needed)."""

    psid: str
    images: tuple[Path, ...]
    labels: tuple[Path, ...] = ()


@dataclass
class Volume:
    """Contrasts (C, X, Y, Z) float32 on one grid, the labels (X, Y, Z) uint8 (0 is
    background), and the grid's affine."""

    image: np.ndarray
    affine: np.ndarray
    label: np.ndarray | None = None

    @property
    def zooms(self) -> tuple[float, float, float]:
        z = np.sqrt((np.asarray(self.affine)[:3, :3] ** 2).sum(axis=0))
        return (float(z[0]), float(z[1]), float(z[2]))


def select_studies(project: Project, studies: Any = None,
                   filters: Any = None) -> list[str]:
    """PSIDs: those given (a list or a ``project.studies()`` frame), else the filters'."""
    if studies is None:
        return list(project.studies(filters)["psid"])
    if hasattr(studies, "columns"):
        return list(studies["psid"])
    return [studies] if isinstance(studies, str) else list(studies)


def _one(project: Project, psid: str, pattern: str, what: str, problems: list[str]) -> Path | None:
    found = project.resolve(psid, pattern)
    if not found:
        problems.append(f"study {psid}: no file matches the {what} pattern {pattern!r}")
        return None
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:4])
        problems.append(f"study {psid}: the {what} pattern {pattern!r} matches {len(found)} "
                        f"files ({names}); make it match one")
        return None
    return found[0]


def find_cases(project: Project, config: ModelConfig, psids: Sequence[str], *,
               labels: bool = True) -> list[Case]:
    """The input files of each study.

    Raises
    ------
    SegmentError
        Naming every study that lacks a contrast or a label (or where a pattern matches
        several files).
    """
    problems: list[str] = []
    cases = []
    for psid in psids:
        imgs = [_one(project, psid, p, f"contrast {i + 1}", problems)
                for i, p in enumerate(config.images)]
        labs: list[Path | None] = []
        if labels:
            if isinstance(config.labels, str):
                labs = [_one(project, psid, config.labels, "label map", problems)]
            else:
                labs = [_one(project, psid, pat, f"label {name!r}", problems)
                        for name, pat in config.labels.items()]
        if all(p is not None for p in [*imgs, *labs]):
            cases.append(Case(psid, tuple(p for p in imgs if p is not None),
                              tuple(p for p in labs if p is not None)))
    if problems:
        more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
        raise SegmentError(f"{len(problems)} input problem(s) in project {project.name!r}: "
                           + "; ".join(problems[:8]) + more
                           + ". Fix the files or leave those studies out of the selection")
    return cases


def _read(path: Path) -> Any:
    import nibabel as nib

    try:
        img: Any = nib.load(str(path))
        img.get_fdata(dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - the reader's reason, named
        raise SegmentError(f"{path}: cannot be read as an image ({type(exc).__name__}: {exc})"
                           ) from exc
    if len(img.shape) > 3 and any(s > 1 for s in img.shape[3:]):
        raise SegmentError(f"{path}: a {len(img.shape)}-D image of shape {img.shape}; "
                           "expected one 3-D volume per file")
    return img


def _onto(img: Any, ref: Any, path: Path, ref_path: Path, *, order: int) -> np.ndarray:
    """``img``'s data on ``ref``'s grid, resampled through world coordinates when the grids
    differ; refused when it covers less than :data:`MIN_COVER` of ``ref``."""
    from nora_lab.imaging.grid import Grid
    from nora_lab.imaging.resample import resample_to_grid

    src, dst = Grid.from_image(img), Grid.from_image(ref)
    data = np.asarray(img.dataobj).reshape(img.shape[:3])
    if src.same_as(dst):
        return data
    out = np.asarray(resample_to_grid((data.astype(np.float32), img.affine), ref,
                                      order=order, cval=np.nan).dataobj)
    cover = float(np.isfinite(out).mean())
    if cover < MIN_COVER:
        raise SegmentError(
            f"{path}: on a different grid ({src}) from {ref_path.name} ({dst}) and its field "
            f"of view covers only {cover:.0%} of it in world coordinates; expected the same "
            "grid, or one that covers the image (resample or crop it first)")
    return np.nan_to_num(out, nan=0.0)


def load_images(case: Case) -> Volume:
    """The study's contrasts on the first one's grid (others resampled trilinearly)."""
    first = _read(case.images[0])
    chans = [first.get_fdata(dtype=np.float32).reshape(first.shape[:3])]
    for path in case.images[1:]:
        chans.append(_onto(_read(path), first, path, case.images[0], order=1)
                     .astype(np.float32))
    return Volume(np.stack(chans), np.asarray(first.affine, dtype=float))


def load_case(case: Case, config: ModelConfig) -> Volume:
    """The study's contrasts and labels on one grid.

    Labels on another grid are resampled (nearest neighbour) through world coordinates.

    Raises
    ------
    SegmentError
        A file that cannot be read, a grid that does not cover the image, an empty label.
    """
    vol = load_images(case)
    import nibabel as nib

    ref = nib.Nifti1Image(vol.image[0], vol.affine)
    label = np.zeros(vol.image.shape[1:], dtype=np.uint8)
    if config.label_kind == "labelmap":
        path = case.labels[0]
        data = np.rint(_onto(_read(path), ref, path, case.images[0], order=0)).astype(np.int64)
        bad = np.setdiff1d(np.unique(data), np.arange(len(config.classes) + 1))
        if bad.size:
            raise SegmentError(f"{path}: label values {bad[:6].tolist()} beyond the model's "
                               f"classes 1…{len(config.classes)} {list(config.classes)}")
        label[:] = data
    else:
        for value, path in enumerate(case.labels, 1):
            mask = _onto(_read(path), ref, path, case.images[0], order=0) > 0.5
            label[mask] = value
    for value, name in enumerate(config.classes, 1):
        if not (label == value).any():
            where = case.labels[min(value - 1, len(case.labels) - 1)]
            raise SegmentError(f"{where}: the label of class {name!r} is empty in study "
                               f"{case.psid}; draw it or leave the study out of training")
    vol.label = label
    return vol

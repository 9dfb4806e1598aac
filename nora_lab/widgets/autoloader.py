"""Autoloaders: saved recipes that load a study's files into the viewer.

A recipe says which file patterns go into which viewport with which display
settings; applied to one study after another (the desk's arrow keys,
``desk.next()``), it makes quality control of a cohort a matter of looking.
The recipe itself — validation, storage in the project's JSON store, matching a
study's files — is :class:`nora_lab.archive.recipes.Recipe`, which needs no screen;
:class:`Autoloader` adds :meth:`Autoloader.apply`, which shows the files in a viewer.
The JSON format is documented in ``docs/autoloader-format.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nora_lab.archive.recipes import KIND, Item, Recipe
from nora_lab.display import viewports
from nora_lab.errors import ImagingError, NoraError

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.archive.project import Project

    from .markertool import MarkerTool
    from .roitool import ROITool
    from .viewer import Viewer

__all__ = ["Autoloader", "Item", "LoadReport", "KIND", "DEFAULT"]


@dataclass
class LoadReport:
    """What :meth:`Autoloader.apply` did for one study.

    Attributes
    ----------
    psid : str
    loaded : list of (pattern, relpath, role)
        Every file opened.
    missing : list of str
        Patterns of (non-optional) items with no match in the study.
    errors : list of str
        Files that matched but could not be shown (named, with the reason).
    """

    psid: str
    loaded: list[tuple[str, str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{self.psid}: {len(self.loaded)} file(s) loaded"]
        if self.missing:
            parts.append("no match for " + ", ".join(repr(p) for p in self.missing))
        if self.errors:
            parts.append("; ".join(self.errors))
        return " · ".join(parts)


@dataclass
class Autoloader(Recipe):
    """A recipe (:class:`~nora_lab.archive.recipes.Recipe`) that can show a study.

    Examples
    --------
    >>> qc = Autoloader.from_dict({"layout": "1x3", "items": [
    ...     {"pattern": "*mprage*/*.nii *t1*/*.nii", "role": "background", "window": [300, 600]},
    ...     {"pattern": "rois/*.nii", "role": "roi", "match": "all"}]}, name="t1 qc")
    >>> qc.items[0].alternatives
    ['*mprage*/*.nii', '*t1*/*.nii']
    >>> qc.save(proj)                                    # doctest: +SKIP
    >>> Autoloader.load(proj, "t1 qc").apply(proj, "P001#S1", viewer)   # doctest: +SKIP
    """

    def apply(self, project: Project, psid: str, viewer: Viewer, *,
              roi_tool: ROITool | None = None, marker_tool: MarkerTool | None = None,
              clear: bool = True) -> LoadReport:
        """Load the study's files into ``viewer`` (and its ROIs / point sets into the tools).

        Items whose pattern has no match are listed in the report's ``missing``; files
        that cannot be shown are listed in ``errors`` – the other items still load.
        """
        report = LoadReport(psid)
        study_dir = project.study_dir(psid)
        if clear:
            viewer.clear()
        if self.layout is not None and viewer.view_layout != self.layout:
            viewer.view_layout = self.layout
        for it, rels, _ in self.matches(project, psid):
            if not rels:
                if not it.optional:
                    report.missing.append(it.pattern)
                continue
            for k, rel in enumerate(rels):
                name = it.name if it.name and len(rels) == 1 else (
                    f"{it.name} {k + 1}" if it.name else Path(rel).name)
                try:
                    role = self._open(it, study_dir / rel, rel, name, viewer, roi_tool, marker_tool)
                except NoraError as exc:
                    report.errors.append(f"{rel}: {exc}")
                    continue
                except Exception as exc:  # noqa: BLE001 - a damaged file: name it, load the rest
                    report.errors.append(f"{rel}: cannot read it ({type(exc).__name__}: {exc})")
                    continue
                report.loaded.append((it.pattern, rel, role))
        return report

    @staticmethod
    def _open(it: Item, path: Path, rel: str, name: str, viewer: Viewer,
              roi_tool: ROITool | None, marker_tool: MarkerTool | None) -> str:
        if it.role == "markers":
            if marker_tool is None:
                raise ImagingError("role 'markers' needs the marker tool (use the desk)")
            marker_tool.load(path)
            return "markers"
        if it.role == "roi" and roi_tool is not None:
            roi_tool.load(path, relpath=rel, name=it.name and name)
            return "roi"
        source = open_source(path, it.frame)
        role = {"auto": None, "roi": "mask"}.get(it.role, it.role)
        if role in ("surface", "fibers"):
            role = None  # the viewer picks them from the file type
        if role == "overlay" and not any(viewer._background(v) for v in viewports(it.viewport)):
            role = "background"  # nothing to lie over: the study lacks the background's series
        layer = viewer.open(source, viewport=it.viewport, role=role, name=name,
                            colormap=it.colormap, opacity=it.opacity, window=it.window_for(),
                            outline=it.outline, color=it.color, visible=it.visible)
        return layer.role


def open_source(path: Path, frame: int = 0) -> Any:
    """What the viewer opens for an archive file: the path, or volume ``frame`` of a 4-D image."""
    import nibabel as nib

    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz", ".mgz", ".mgh", ".img", ".hdr")):
        img: Any = nib.load(path)
        if len(img.shape) == 4 and img.shape[3] > 1:
            if frame >= img.shape[3]:
                raise ImagingError(
                    f"{path.name} has {img.shape[3]} volumes; frame {frame} does not exist")
            return img.slicer[..., frame]
        return img
    if frame:
        raise ImagingError(f"{path.name}: 'frame' applies to 4-D images only")
    return path


#: The recipe used when none is chosen: the first image as background, the study's
#: saved ROIs (``rois/``) and point sets (``annotations/``) into the tools.
DEFAULT = Autoloader.from_dict({"items": [
    {"pattern": "*.nii *.mgz *.mgh *.nrrd *.nhdr", "role": "background"},
    {"pattern": "rois/*.nii", "role": "roi", "match": "all", "optional": True},
    {"pattern": "annotations/*.ano.json", "role": "markers", "match": "all", "optional": True},
]}, name="(default)")

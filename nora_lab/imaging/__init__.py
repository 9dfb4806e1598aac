"""The computation behind the ROI tool, marker tool, navigation tool and fiber viewer.

Pure numpy/scipy, no widgets; nibabel images in and out. Every volume lives on a
:class:`Grid` (shape + voxel-to-world affine, mm, RAS+); images on different grids meet
through world coordinates. Errors are :class:`nora_lab.errors.ImagingError`.

- ROIs: :class:`ROI`, pens (:func:`brush`, :func:`eraser`, :func:`threshold_pen`,
  :func:`magic_pen`, :func:`region_grow`, :func:`polygon_fill`), operations
  (:func:`erode`, :func:`dilate`, :func:`opening`, :func:`closing`, :func:`union`,
  :func:`intersection`, :func:`difference`, :func:`remove_salt`, :func:`clear_roi`), each
  returning an undoable :class:`Edit`; :func:`roi_statistics`; :func:`to_dicom_seg`.
- Markers: :class:`PointSet`.
- Alignment: :func:`translation`, :func:`rotation`, :func:`scaling`, :func:`compose`,
  :class:`Deformation`, :func:`apply_transform`, :func:`resample_to_grid`,
  :func:`world_grid`.
- Fibers: :func:`load_streamlines`, :func:`save_streamlines`, :func:`through_sphere`,
  :func:`through_roi`, :func:`by_waypoints`, :func:`keep_streamlines`,
  :func:`delete_streamlines`, :func:`visitation_map`, :func:`terminal_map`,
  :func:`track_streamlines`.
- Oblique MPR: :func:`plane_matrix`, :func:`plane_grid`, :func:`tilt_plane`.

Names load on first use (``import nora_lab.imaging`` imports no submodule). The names
before 0.2 ``keep``, ``delete``, ``track`` (streamlines) and ``clear`` (an ROI) still work,
with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = [
    "Grid", "ROI", "Edit", "History", "brush", "eraser", "threshold_pen", "magic_pen",
    "region_grow", "polygon_fill", "erode", "dilate", "opening", "closing", "union",
    "intersection", "difference", "remove_salt", "clear_roi", "roi_statistics", "to_dicom_seg",
    "series_grid", "resample_to_grid", "sample_world", "world_grid", "Point", "PointSet",
    "translation", "rotation", "scaling", "compose", "move_image", "Deformation",
    "GaussianMarker", "apply_transform", "load_streamlines", "save_streamlines",
    "through_sphere", "through_roi", "by_waypoints", "keep_streamlines", "delete_streamlines",
    "visitation_map", "terminal_map", "track_streamlines", "plane_matrix", "plane_grid",
    "tilt_plane",
]

_WHERE = {name: module for module, names in {
    "grid": ("Grid",),
    "roi": ("ROI",),
    "history": ("Edit", "History"),
    "pens": ("brush", "eraser", "threshold_pen", "magic_pen"),
    "grow": ("region_grow",),
    "polygon": ("polygon_fill",),
    "morphology": ("erode", "dilate", "opening", "closing", "union", "intersection",
                   "difference", "remove_salt", "clear_roi"),
    "stats": ("roi_statistics",),
    "dicomseg": ("to_dicom_seg", "series_grid"),
    "resample": ("resample_to_grid", "sample_world", "world_grid"),
    "markers": ("Point", "PointSet"),
    "transforms": ("translation", "rotation", "scaling", "compose", "move_image"),
    "deform": ("Deformation", "GaussianMarker"),
    "warp": ("apply_transform",),
    "fibers": ("load_streamlines", "save_streamlines", "through_sphere", "through_roi",
               "by_waypoints", "keep_streamlines", "delete_streamlines"),
    "fibermaps": ("visitation_map", "terminal_map"),
    "tracking": ("track_streamlines",),
    "oblique": ("plane_matrix", "plane_grid", "tilt_plane"),
}.items() for name in names}

#: generic names that act on streamlines or an ROI, renamed in 0.2
_DEPRECATED = {"keep": "fibers:keep_streamlines", "delete": "fibers:delete_streamlines",
               "track": "tracking:track_streamlines", "clear": "morphology:clear_roi"}

if TYPE_CHECKING:  # pragma: no cover
    from .deform import Deformation, GaussianMarker
    from .dicomseg import series_grid, to_dicom_seg
    from .fibermaps import terminal_map, visitation_map
    from .fibers import (
        by_waypoints,
        delete_streamlines,
        keep_streamlines,
        load_streamlines,
        save_streamlines,
        through_roi,
        through_sphere,
    )
    from .grid import Grid
    from .grow import region_grow
    from .history import Edit, History
    from .markers import Point, PointSet
    from .morphology import (
        clear_roi,
        closing,
        difference,
        dilate,
        erode,
        intersection,
        opening,
        remove_salt,
        union,
    )
    from .oblique import plane_grid, plane_matrix, tilt_plane
    from .pens import brush, eraser, magic_pen, threshold_pen
    from .polygon import polygon_fill
    from .resample import resample_to_grid, sample_world, world_grid
    from .roi import ROI
    from .stats import roi_statistics
    from .tracking import track_streamlines
    from .transforms import compose, move_image, rotation, scaling, translation
    from .warp import apply_transform


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__, deprecated=_DEPRECATED)

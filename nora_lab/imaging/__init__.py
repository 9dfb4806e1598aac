"""The computation behind the ROI tool, marker tool, navigation tool and fiber viewer.

Pure numpy/scipy, no widgets; nibabel images in and out. Every volume lives on a
:class:`Grid` (shape + voxel-to-world affine, mm, RAS+); images on different grids meet
through world coordinates. Errors are :class:`nora_lab.errors.ImagingError`.

- ROIs: :class:`ROI`, pens (:func:`brush`, :func:`eraser`, :func:`threshold_pen`,
  :func:`magic_pen`, :func:`region_grow`, :func:`polygon_fill`), operations
  (:func:`erode`, :func:`dilate`, :func:`opening`, :func:`closing`, :func:`union`,
  :func:`intersection`, :func:`difference`, :func:`remove_salt`, :func:`clear`), each
  returning an undoable :class:`Edit`; :func:`roi_statistics`; :func:`to_dicom_seg`.
- Markers: :class:`PointSet`.
- Alignment: :func:`translation`, :func:`rotation`, :func:`scaling`, :func:`compose`,
  :class:`Deformation`, :func:`apply_transform`, :func:`resample_to_grid`,
  :func:`world_grid`.
- Fibers: :func:`load_streamlines`, :func:`save_streamlines`, :func:`through_sphere`,
  :func:`through_roi`, :func:`by_waypoints`, :func:`keep`, :func:`delete`,
  :func:`visitation_map`, :func:`terminal_map`, :func:`track`.
"""

from .deform import Deformation, GaussianMarker
from .dicomseg import series_grid, to_dicom_seg
from .fibermaps import terminal_map, visitation_map
from .fibers import (
    by_waypoints,
    delete,
    keep,
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
    clear,
    closing,
    difference,
    dilate,
    erode,
    intersection,
    opening,
    remove_salt,
    union,
)
from .pens import brush, eraser, magic_pen, threshold_pen
from .polygon import polygon_fill
from .resample import resample_to_grid, sample_world, world_grid
from .roi import ROI
from .stats import roi_statistics
from .tracking import track
from .transforms import compose, move_image, rotation, scaling, translation
from .warp import apply_transform

__all__ = [
    "Grid", "ROI", "Edit", "History",
    "brush", "eraser", "threshold_pen", "magic_pen", "region_grow", "polygon_fill",
    "erode", "dilate", "opening", "closing", "union", "intersection", "difference",
    "remove_salt", "clear",
    "roi_statistics", "to_dicom_seg", "series_grid",
    "resample_to_grid", "sample_world", "world_grid",
    "Point", "PointSet",
    "translation", "rotation", "scaling", "compose", "move_image",
    "Deformation", "GaussianMarker", "apply_transform",
    "load_streamlines", "save_streamlines", "through_sphere", "through_roi", "by_waypoints",
    "keep", "delete", "visitation_map", "terminal_map", "track",
]

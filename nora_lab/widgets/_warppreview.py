"""The navigation tool's warped preview: the moving images as APPLY would write them.

The page moves the moving layers by the tool's matrix itself (their affine), but a
Gaussian deformation is no matrix: to see it, the kernel resamples each moving image
through the matrix and the deformation onto the fixed image's grid
(:meth:`NavigationTool.resampled <nora_lab.widgets.NavigationTool.resampled>`) and
shows the result as a layer ``"<name> (warped)"`` in the moving layer's look, hiding the
moving layer meanwhile. :class:`WarpPreview` owns those layers: :meth:`WarpPreview.show`
replaces them, :meth:`WarpPreview.clear` removes them and shows the moving layers again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from nora_lab.errors import ImagingError

if TYPE_CHECKING:  # pragma: no cover
    from .viewer import Viewer

__all__ = ["WarpPreview", "SUFFIX"]

#: the preview layer of moving layer ``name`` is ``name + SUFFIX``
SUFFIX = " (warped)"


def _as_stored(img: nib.Nifti1Image, dtype: np.dtype) -> np.ndarray:
    """The resampled voxels in the moving image's own dtype (integers rounded): what the
    page gets is no larger than the moving image it replaces."""
    data = np.nan_to_num(np.asarray(img.dataobj))
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(data), info.min, info.max).astype(dtype)
    return data.astype(np.float32)


class WarpPreview:
    """The warped-preview layers of a navigation tool's viewer."""

    def __init__(self, viewer: Viewer):
        self.viewer = viewer
        self.hidden: list[str] = []     # moving layer ids this preview hid
        self.layers: list[str] = []     # names of the preview layers shown

    @property
    def shown(self) -> bool:
        return bool(self.layers)

    def show(self, images: dict[str, nib.Nifti1Image], specs: list[dict]) -> None:
        """Show ``images`` (moving layer name → resampled image) in place of the moving
        layers ``specs``."""
        by_name = {s["name"]: s for s in specs}
        with self.viewer.hold_sync():
            self._close_layers()
            for name, img in images.items():
                spec = by_name[name]
                vol = self.viewer.layer(spec["id"]).volume
                label = f"{name}{SUFFIX}"
                if spec["role"] == "mask":
                    keep = self.viewer.draw_target
                    self.viewer.set_mask(np.asarray(img.dataobj) > 0.5, img.affine, name=label,
                                         color=spec.get("color", "red"),
                                         opacity=spec["opacity"])
                    self.viewer.draw_target = keep   # a preview is never drawn into
                else:
                    self.viewer.open(_as_stored(img, vol.data.dtype), "all", "overlay",
                                     affine=img.affine, name=label,
                                     colormap=spec["colormap"], opacity=spec["opacity"],
                                     window=tuple(spec["window"]))
                self.layers.append(label)
                if spec["visible"]:
                    self.viewer.layer(spec["id"]).visible = False
                    self.hidden.append(spec["id"])

    def clear(self) -> bool:
        """Remove the preview layers; the moving layers show again. Returns whether there
        was anything to remove."""
        if not self.layers and not self.hidden:
            return False
        with self.viewer.hold_sync():
            self._close_layers()
            ids = {s["id"] for s in self.viewer.layers}
            for layer_id in self.hidden:
                if layer_id in ids:
                    self.viewer.layer(layer_id).visible = True
            self.hidden = []
        return True

    def _close_layers(self) -> None:
        for label in self.layers:
            try:
                self.viewer.close_layer(label)
            except ImagingError:  # closed by the user meanwhile
                pass
        self.layers = []

    def owns(self, spec: dict[str, Any]) -> bool:
        """Whether a layer spec is one of the preview's layers."""
        return spec["name"].endswith(SUFFIX) and spec["name"] in self.layers

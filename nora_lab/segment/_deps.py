"""The segmentation module's heavy dependencies, imported on first use.

PyTorch, MONAI and onnxruntime are the optional extra ``segment``; a missing one is
reported with what needs it and the command that installs it (CPU-only wheels).
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: module -> (pip requirement, what needs it)
PACKAGES = {
    "torch": ("torch==2.13.0", "training and applying segmentation models"),
    "monai": ("monai", "the segmentation networks, patch sampling and sliding windows"),
    "onnxruntime": ("onnxruntime", "applying an ONNX model"),
}


def need(module: str) -> ModuleType:
    """Import ``module`` or raise an ImportError naming the feature and the fix."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        package, feature = PACKAGES.get(top, (top, "nora_lab.segment"))
        raise ImportError(
            f"{feature} needs the package {package!r}: pip install 'nora_lab[segment]' "
            f"(CPU-only torch: pip install {package} --index-url "
            "https://download.pytorch.org/whl/cpu)") from exc

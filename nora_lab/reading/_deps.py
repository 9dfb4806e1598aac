"""Optional dependencies of the reading tool, imported on first use.

The statistics and the web app need packages the archive does not; a missing one is
reported with the feature that needs it and the command that installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: module -> (pip package, what needs it)
PACKAGES = {
    "statsmodels.stats.inter_rater": ("statsmodels", "Cohen's and Fleiss' kappa"),
    "krippendorff": ("krippendorff", "Krippendorff's alpha"),
    "pingouin": ("pingouin", "the intraclass correlation (ICC)"),
    "matplotlib.pyplot": ("matplotlib", "agreement plots"),
    "matplotlib.figure": ("matplotlib", "the app's slice images"),
    "panel": ("panel", "the standalone reading app"),
}


def need(module: str) -> ModuleType:
    """Import ``module`` or raise an ImportError naming the feature and the fix."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package, feature = PACKAGES.get(module,
                                        (module.split(".")[0], "this part of the reading tool"))
        raise ImportError(
            f"{feature} needs the package {package!r}: pip install {package}") from exc

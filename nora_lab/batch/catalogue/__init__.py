"""The processing catalogue: built-in batch jobs for the standard steps of an imaging study.

=================  ==================================================  =====================
job                what                                                built on
=================  ==================================================  =====================
n4                 bias-field correction                               SimpleITK (N4)
register           a series onto another of the study                  ANTsPy (+ SimpleITK)
register_template  a series onto the MNI152 template                   ANTsPy, nilearn
apply_transform    a stored transform on images and ROIs               SimpleITK
brain_extract      brain mask by registration to MNI152 and its mask   ANTsPy, nilearn
tissue_segment     CSF / GM / WM                                       ANTsPy (Atropos)
reslice            onto a reference grid                               SimpleITK
smooth             Gaussian, FWHM in mm                                SimpleITK
normalize          z-score or min–max intensities                      SimpleITK
roi_stats          ROI tool statistics per ROI × image → study JSON    nora_lab.imaging
dti_fit            tensor fit → FA, MD                                 dipy
tractography       deterministic tensor tracking → .tck                dipy
=================  ==================================================  =====================

Each is a typed built-in job (``Job.builtin("n4", image="t1*/s0*.nii")``), listed by the
batch tool and ``nora --listjobs``, run per study on Dask or Slurm like any job; each
records its provenance with its outputs (:func:`provenance`). MATLAB/Octave scripts are a
generic job kind of the batch engine: :meth:`nora_lab.batch.Job.matlab`.

The modules import their libraries only when a job runs, so listing the catalogue is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = ["MODULES", "provenance", "cohort_table", "template_file"]

#: the modules that register the catalogue's jobs (``nora_lab.batch.registry.PROVIDERS``)
MODULES = tuple(f"nora_lab.batch.catalogue.{m}" for m in (
    "bias", "registration", "brain", "tissue", "reslice", "roistats", "diffusion"))

_WHERE = {"provenance": "provenance", "cohort_table": "roistats", "template_file": "templates"}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.batch.catalogue.provenance import provenance
    from nora_lab.batch.catalogue.roistats import cohort_table
    from nora_lab.batch.catalogue.templates import template_file


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)

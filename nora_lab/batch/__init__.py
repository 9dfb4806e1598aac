"""Batches: NORA's batchtool as a library — per-study pipelines on Dask.

>>> from nora_lab.batch import Batch, Job, launch
>>> b = Batch("copy_t1", [Job.bash("cp $f1 $o1", f1="t1*/s0*.nii", o1="derived/t1.nii TAG(copy)")])
>>> run = launch(b, proj, filters={"subject": "P0"}, wait=True)       # doctest: +SKIP
>>> run.states()                                                      # doctest: +SKIP

One Dask task per study (LocalCluster by default, Slurm/SGE through dask-jobqueue);
job states in the archive's jobs table (``JOB:e`` in a filter bar finds the errors);
see ``docs/batch-format.md`` for the JSON form of batches.

Names are imported on first use, so ``import nora_lab.batch`` (and the ``nora``
command, which loads :mod:`nora_lab.batch.cli`) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nora_lab._lazy import lazy_names

__all__ = ["Arg", "Job", "Batch", "BatchRun", "DryRun", "launch", "dry_run", "debug",
           "register_job", "get_job", "registered_jobs", "settings", "on_study_imported",
           "launch_autoexec"]

_WHERE = {
    "Arg": "args", "Job": "jobs", "Batch": "batch", "BatchRun": "run", "DryRun": "submit",
    "launch": "submit", "dry_run": "submit", "debug": "debugging", "register_job": "registry",
    "get_job": "registry", "registered_jobs": "registry", "settings": "config",
    "on_study_imported": "autoexec", "launch_autoexec": "autoexec",
}

if TYPE_CHECKING:
    from nora_lab.batch.args import Arg
    from nora_lab.batch.autoexec import launch_autoexec, on_study_imported
    from nora_lab.batch.batch import Batch
    from nora_lab.batch.config import settings
    from nora_lab.batch.debugging import debug
    from nora_lab.batch.jobs import Job
    from nora_lab.batch.registry import get_job, register_job, registered_jobs
    from nora_lab.batch.run import BatchRun
    from nora_lab.batch.submit import DryRun, dry_run, launch


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)


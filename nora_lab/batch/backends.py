"""The Dask clusters batches run on: ``local`` (LocalCluster), ``slurm`` and ``sge``
(dask-jobqueue). Nothing is scheduled by nora_lab itself.

Each backend's section of the settings (:mod:`nora_lab.batch.config`) is passed to the
cluster class as keyword arguments (dashes become underscores), except nora_lab's own
keys: ``adapt``, ``minimum-jobs``, ``maximum-jobs``, ``adapt-interval``,
``adapt-wait-count``. The batch's ``resources`` (queue, cores, memory, walltime …)
override the section; ``queue`` may be one of NORA's queue names (``processing``,
``import``), mapped to a partition by the settings' ``queues``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nora_lab.batch.config import queue_name
from nora_lab.errors import ConfigError

__all__ = ["make_cluster", "job_script", "cluster_kwargs"]

_OWN = ("adapt", "minimum-jobs", "maximum-jobs", "adapt-interval", "adapt-wait-count")
_CLUSTER_ONLY = ("scheduler_options", "dashboard_address", "host", "n_workers", "silence_logs",
                 "shared_temp_directory", "asynchronous", "loop", "security")


def _section(cfg: Mapping[str, Any], resources: Mapping[str, Any] | None) -> dict[str, Any]:
    backend = cfg["backend"]
    sec = dict(cfg.get(backend) or {})
    for k, v in (resources or {}).items():
        if backend == "local":
            continue  # a LocalCluster has no queue, walltime or memory request
        sec[k.replace("_", "-")] = v
    if backend != "local" and "queue" in sec:
        sec["queue"] = queue_name(dict(cfg), sec["queue"])
    return sec


def cluster_kwargs(cfg: Mapping[str, Any], resources: Mapping[str, Any] | None = None,
                   *, log_directory: Path | None = None) -> dict[str, Any]:
    """The keyword arguments the backend's cluster class gets."""
    sec = _section(cfg, resources)
    kwargs = {k.replace("-", "_"): v for k, v in sec.items() if k not in _OWN and v is not None}
    if cfg["backend"] != "local":
        if log_directory is not None:
            kwargs.setdefault("log_directory", str(log_directory))
        for key in ("job_extra_directives", "job_script_prologue"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = [kwargs[key]]
        missing = [k for k in ("cores", "memory") if kwargs.get(k) in (None, "")]
        if missing:
            raise ConfigError(f"batch backend {cfg['backend']!r} needs {' and '.join(missing)} "
                              f"(e.g. SLURMCluster(cores=1, memory='2GB'): set them in batch.yaml)")
    return kwargs


def _cluster_class(backend: str) -> type:
    if backend == "local":
        from distributed import LocalCluster

        return LocalCluster
    try:
        import dask_jobqueue
    except ImportError as exc:  # pragma: no cover - a dependency of nora_lab
        raise ConfigError(
            f"the {backend} backend needs dask-jobqueue (pip install dask-jobqueue)") from exc
    return {"slurm": dask_jobqueue.SLURMCluster, "sge": dask_jobqueue.SGECluster}[backend]


def job_script(cfg: Mapping[str, Any], resources: Mapping[str, Any] | None = None, *,
               log_directory: Path | None = None) -> str | None:
    """The job script a ``slurm``/``sge`` cluster would submit (None for ``local``).

    Rendered without starting a scheduler (the address is a placeholder), as
    ``cluster.job_script()`` would print it.
    """
    if cfg["backend"] == "local":
        return None
    cls = _cluster_class(cfg["backend"])
    kwargs = {k: v for k, v in cluster_kwargs(cfg, resources, log_directory=log_directory).items()
              if k not in _CLUSTER_ONLY}
    return cls.job_cls("tcp://<scheduler>:8786", name="dask-worker", **kwargs).job_script()  # type: ignore[attr-defined]


def _local_size(kwargs: dict[str, Any], n_units: int) -> tuple[int, int]:
    """(workers, threads per worker): one study per core at a time, by default.

    Threads (``processes: false``, the default) suit batches: every job runs in its own
    process anyway, and in-process workers start at once and talk to the scheduler
    without serialization. With ``processes: true``: one single-threaded worker per core.
    """
    cores = os.cpu_count() or 1
    n = kwargs.pop("n_workers", None)
    threads = kwargs.pop("threads_per_worker", None)
    if kwargs.get("processes", False):
        n, threads = n or cores, threads or 1
    else:
        n, threads = n or 1, threads or cores
    n = max(1, min(int(n), n_units))
    return n, max(1, min(int(threads), -(-n_units // n)))


def make_cluster(cfg: Mapping[str, Any], *, n_units: int,
                 resources: Mapping[str, Any] | None = None,
                 log_directory: Path | None = None) -> Any:
    """Start the configured cluster, sized for ``n_units`` units.

    ``local``: a LocalCluster running one study per core at a time (see :func:`_local_size`).
    ``slurm``/``sge``: a dask-jobqueue cluster, adaptive between ``minimum-jobs`` and
    ``maximum-jobs`` (at most one job per unit), or scaled to that many jobs.

    The scheduler is told to give up on a unit after ``max-attempts`` lost workers.
    """
    import dask

    backend = cfg["backend"]
    sec = _section(cfg, resources)
    kwargs = cluster_kwargs(cfg, resources, log_directory=log_directory)
    cls = _cluster_class(backend)
    failures = max(0, int(cfg.get("max-attempts", 2)) - 1)
    if log_directory is not None and backend != "local":
        Path(log_directory).mkdir(parents=True, exist_ok=True)
    with dask.config.set({"distributed.scheduler.allowed-failures": failures}):
        if backend == "local":
            n, threads = _local_size(kwargs, n_units)
            kwargs.setdefault("silence_logs", logging.ERROR)
            return cls(n_workers=n, threads_per_worker=threads, **kwargs)
        cluster = cls(**kwargs)
    top = max(1, min(int(sec.get("maximum-jobs") or 1), n_units))
    try:
        if sec.get("adapt", True):
            cluster.adapt(minimum_jobs=min(int(sec.get("minimum-jobs") or 0), top),
                          maximum_jobs=top,
                          interval=sec.get("adapt-interval", "1s"),
                          wait_count=int(sec.get("adapt-wait-count", 3)))
        else:
            cluster.scale(jobs=top)
    except Exception:
        with contextlib.suppress(Exception):
            cluster.close()
        raise
    return cluster

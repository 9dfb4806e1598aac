"""Training as a batch job: :func:`train` submits :func:`~nora_lab.segment.training.fit` to
the batch layer's Dask cluster (LocalCluster by default, Slurm through dask-jobqueue, on a
GPU node through the partition's gres when it has one) and returns a :class:`TrainingRun`.

>>> run = train(proj, "tissue", images="2_T1*/s0*.nii",
...             labels={"gm": "rois/gm.nii.gz", "wm": "rois/wm.nii.gz"},
...             filters={"subject": "demo0[1-5]"}, epochs=20)     # doctest: +SKIP
>>> run.watch()       # progress bar and live training curve in the notebook  # doctest: +SKIP
>>> run.log()         # a DataFrame: epoch, loss, dice_gm, dice_wm, seconds   # doctest: +SKIP

The model's record is stored when the run starts (``status: training``) and completed
when it ends (``done`` or ``error``, with the result and the weights' SHA-256).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nora_lab.archive.layout import sha256
from nora_lab.errors import AlreadyExistsError, NotFoundError, SegmentError
from nora_lab.segment import store
from nora_lab.segment.config import ModelConfig
from nora_lab.segment.data import Case, find_cases, select_studies
from nora_lab.segment.training import PROGRESS, WEIGHTS, fit, read_log

if TYPE_CHECKING:
    import pandas as pd

    from nora_lab.archive import Project

__all__ = ["train", "TrainingRun", "split", "slurm_gpus", "training_resources"]


def split(psids: Sequence[str], validation: float, seed: int) -> tuple[list[str], list[str]]:
    """(training, validation) studies: a seeded shuffle, at least one of each.

    Raises
    ------
    SegmentError
        Fewer studies than the split needs.
    """
    n = len(psids)
    n_val = int(round(validation * n)) if validation < 1 else int(validation)
    n_val = max(1, n_val)
    if n - n_val < 1:
        raise SegmentError(f"{n} labelled stud{'y' if n == 1 else 'ies'} selected; the split "
                           f"needs {n_val + 1} or more ({n_val} to validate, at least 1 to "
                           "train): select more studies or lower validation=")
    order = np.random.default_rng(seed).permutation(n)
    val = sorted(psids[i] for i in order[:n_val])
    return [p for p in psids if p not in val], val


def slurm_gpus(partition: str | None) -> int:
    """GPUs per node that Slurm's ``partition`` offers as gres (0: none, or no Slurm)."""
    if not shutil.which("sinfo"):
        return 0
    cmd = ["sinfo", "-h", "-o", "%G"] + (["-p", partition] if partition else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    best = 0
    for gres in out.stdout.split():
        for item in gres.split(","):
            parts = item.split("(")[0].split(":")
            if parts[0] == "gpu":
                best = max(best, int(parts[-1]) if parts[-1].isdigit() else 1)
    return best


def training_resources(cfg: Mapping[str, Any], gpus: int | str = "auto") -> dict[str, Any]:
    """The batch ``resources`` of a training job: ``--gres=gpu:N`` on Slurm when the
    partition has GPUs (``gpus="auto"``) or when asked for (``gpus=N``)."""
    if cfg["backend"] != "slurm":
        return {}
    from nora_lab.batch.config import queue_name

    sec = cfg.get("slurm") or {}
    n = slurm_gpus(queue_name(dict(cfg), sec.get("queue"))) if gpus == "auto" else int(gpus)
    if n <= 0:
        return {}
    extra = list(sec.get("job-extra-directives") or [])
    return {"job_extra_directives": [*extra, f"--gres=gpu:{min(n, 1) if gpus == 'auto' else n}"]}


def _case_dict(c: Case) -> dict[str, Any]:
    return {"psid": c.psid, "images": [str(p) for p in c.images],
            "labels": [str(p) for p in c.labels]}


@dataclass
class TrainingRun:
    """A model's training, running on a Dask worker; :meth:`watch` it or :meth:`wait`."""

    project: Project
    name: str
    folder: Path
    config: ModelConfig
    future: Any = field(repr=False, default=None)
    client: Any = field(repr=False, default=None)
    cluster: Any = field(repr=False, default=None)
    result: dict[str, Any] | None = None
    error: BaseException | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        """Whether training ended (the record is completed then)."""
        if self.result is None and self.error is None and self.future is not None \
                and self.future.done():
            self._finish()
        return self.result is not None or self.error is not None

    def progress(self) -> dict[str, int]:
        """``{"step", "steps", "epoch"}`` so far."""
        import json

        steps = self.config.epochs * self.config.steps_per_epoch
        try:
            return json.loads((self.folder / PROGRESS).read_text())
        except (OSError, ValueError):
            return {"step": 0, "steps": steps, "epoch": 0}

    def log(self) -> pd.DataFrame:
        """The epochs so far: ``epoch, loss, dice_<class>…, seconds``."""
        import pandas as pd

        cols = ["epoch", "loss", *(f"dice_{c}" for c in self.config.classes), "seconds"]
        return pd.DataFrame(read_log(self.folder), columns=cols)

    def curve(self, ax: Any = None) -> Any:
        """The training curve (loss and validation Dice per class by epoch), a Figure."""
        import matplotlib.pyplot as plt

        df = self.log()
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 3.2))
        else:
            fig = ax.figure
        ax.plot(df["epoch"], df["loss"], "k--", label="loss")
        for c in self.config.classes:
            ax.plot(df["epoch"], df[f"dice_{c}"], marker="o", label=f"Dice {c}")
        ax.set_xlim(0.5, self.config.epochs + 0.5)
        ax.set_ylim(0, max(1.0, float(df["loss"].max()) if len(df) else 1.0))
        ax.set_xlabel("epoch")
        ax.set_title(f"model {self.name}")
        ax.legend(loc="lower left", fontsize="small")
        return fig

    def wait(self, timeout: float | None = None, *, progress: bool = False) -> TrainingRun:
        """Block until training ends; raise its error (a :class:`SegmentError` for bad
        input or out of memory)."""
        if progress:
            return self.watch(timeout=timeout)
        start = time.monotonic()
        while not self.done:
            if timeout is not None and time.monotonic() - start > timeout:
                raise SegmentError(f"training of {self.name!r} still runs after {timeout} s")
            time.sleep(0.5)
        if self.error is not None:
            raise self.error
        return self

    def watch(self, timeout: float | None = None, every: float = 1.0) -> TrainingRun:
        """A progress bar and a training curve that updates after each epoch (in a
        notebook: an ipywidgets Output redrawn in place); returns when training ends."""
        import matplotlib.pyplot as plt
        from tqdm.auto import tqdm

        out = _output()
        bar = tqdm(total=self.progress()["steps"], desc=f"training {self.name}", unit="step")
        shown, start = -1, time.monotonic()
        try:
            while True:
                finished = self.done
                bar.n = self.progress()["step"]
                bar.refresh()
                epochs = len(read_log(self.folder))
                if epochs != shown and out is not None:
                    shown = epochs
                    with out:
                        out.clear_output(wait=True)
                        fig = self.curve()
                        plt.show(fig)
                        plt.close(fig)
                if finished:
                    break
                if timeout is not None and time.monotonic() - start > timeout:
                    raise SegmentError(f"training of {self.name!r} still runs after {timeout} s")
                time.sleep(every)
        finally:
            bar.close()
        if self.error is not None:
            raise self.error
        return self

    def _finish(self) -> None:
        try:
            self.result = self.future.result()
        except BaseException as exc:  # noqa: BLE001 - stored in the record, re-raised by wait
            self.error = exc
        record = store.get_record(self.project, self.name)
        record["finished"] = store.now()
        if self.error is not None:
            record.update(status="error", error=f"{type(self.error).__name__}: {self.error}")
        else:
            record.update(status="done", result=self.result,
                          epochs=read_log(self.folder),
                          weights_sha256=sha256(self.folder / WEIGHTS))
        store.save_record(self.project, self.name, record)
        for thing in (self.client, self.cluster):
            if thing is not None:
                thing.close()
        self.client = self.cluster = None


def _output() -> Any:
    try:
        from IPython import get_ipython
        from IPython.display import display
        from ipywidgets import Output
    except ImportError:  # pragma: no cover - ipywidgets is a dependency
        return None
    if get_ipython() is None:
        return None
    out = Output()
    display(out)
    return out


def train(project: Project, name: str, *, images: str | Sequence[str],
          labels: Mapping[str, str] | str, classes: Sequence[str] = (), studies: Any = None,
          filters: Any = None, resume: bool = False, overwrite: bool = False,
          backend: str | None = None, gpus: int | str = "auto", threads: int | None = None,
          wait: bool = False, progress: bool = False, cluster: Any = None,
          **options: Any) -> TrainingRun:
    """Train a segmentation model on the project's labelled studies, as a batch job.

    Parameters
    ----------
    project
        The project (editor role): the model is stored in it under ``name``.
    name
        The model's name (letters, digits, ``._+=@,-``).
    images, labels, classes
        The inputs: contrast patterns, ``{class: ROI pattern}`` or a label-map pattern
        with ``classes`` (see :class:`~nora_lab.segment.ModelConfig`).
    studies, filters
        The labelled studies (PSIDs or a ``project.studies()`` frame), else those the
        filter bars select, else all; split into training and validation.
    resume
        Continue the stored model's training from its last checkpoint (same config).
    overwrite
        Replace a stored model of that name.
    backend, gpus
        The batch backend (``local``, ``slurm``; default: the batch settings'); on Slurm
        ``gpus="auto"`` asks for ``--gres=gpu:1`` when the partition has GPUs.
    threads
        CPU threads torch may use (default: torch's).
    wait, progress
        Block until trained (with :meth:`TrainingRun.watch`'s bar and curve).
    cluster
        An existing Dask cluster to run on (left open when training ends).
    **options
        :class:`ModelConfig` fields (``epochs=``, ``patch=``, ``spacing=`` …) and batch
        settings (``memory="8GB"``, ``walltime=`` …).

    Returns
    -------
    TrainingRun

    Raises
    ------
    SegmentError
        Bad input found before anything runs: a missing contrast or label, fewer studies
        than the split needs, a model of that name (without ``overwrite``/``resume``).
    """
    from nora_lab.batch import backends
    from nora_lab.batch.config import settings

    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    cfg_kw = {k: v for k, v in options.items() if k in fields}
    batch_kw = {k: v for k, v in options.items() if k not in fields}
    config = ModelConfig(images=(images,) if isinstance(images, str) else tuple(images),
                         labels=labels, classes=tuple(classes), **cfg_kw)
    folder = store.model_folder(project, name)
    try:
        old = store.get_record(project, name)
    except NotFoundError:
        old = None
    if resume:
        if old is None:
            raise SegmentError(f"resume=True: project {project.name!r} has no model {name!r}")
        config = ModelConfig.from_dict({**old["config"], **cfg_kw})
        psids_train, psids_val = old["trained_on"], old["validated_on"]
    else:
        if old is not None and not overwrite:
            raise AlreadyExistsError(f"project {project.name!r} has a model {name!r} "
                                     "(overwrite=True replaces it, resume=True continues it)")
        psids = select_studies(project, studies, filters)
        psids_train, psids_val = split(psids, config.validation, config.seed)
    cases = find_cases(project, config, [*psids_train, *psids_val])
    by = {c.psid: _case_dict(c) for c in cases}
    spec = {"config": config.to_dict(), "folder": str(folder), "resume": resume,
            "train": [by[p] for p in psids_train], "val": [by[p] for p in psids_val],
            "threads": threads}
    cfg = settings(backend=backend, **batch_kw)
    record = {"name": name, "kind": "nora", "config": config.to_dict(), "status": "training",
              "trained_on": list(psids_train), "validated_on": list(psids_val),
              "versions": store.versions(), "backend": cfg["backend"],
              "created": (old or {}).get("created") if resume else store.now(),
              "user": project.archive.user, "files": store.RECORD}
    store.save_record(project, name, record)
    run = TrainingRun(project, name, folder, config)
    try:
        from distributed import Client

        if cluster is None:
            run.cluster = backends.make_cluster(cfg, n_units=1,
                                                resources=training_resources(cfg, gpus),
                                                log_directory=folder / "_dask")
        run.client = Client(run.cluster if cluster is None else cluster, set_as_default=False)
        run.future = run.client.submit(fit, spec, pure=False,
                                       key=f"nora-train-{name}-{time.time_ns()}")
    except BaseException as exc:
        record.update(status="error", error=f"the launch failed: {type(exc).__name__}: {exc}")
        store.save_record(project, name, record)
        for thing in (run.client, run.cluster):
            if thing is not None:
                thing.close()
        raise
    if wait or progress:
        run.wait(progress=progress)
    return run


def log_of(project: Project, name: str) -> pd.DataFrame:
    """A stored model's training log as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(read_log(store.model_folder(project, name)))




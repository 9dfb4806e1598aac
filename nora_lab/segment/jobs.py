"""Applying a model to the cohort: the built-in batch job ``segment_apply``.

>>> run = apply(proj, "tissue", filters={"subject": "demo0[56]"})   # doctest: +SKIP

Per study the job writes, into ``seg/<model>/``, the label map ``labels.nii.gz`` and one
ROI per class (``<class>.nii.gz``, uint8), on the grid of the study's first contrast; the
batch runner registers them tagged ``segmentation``, ``roi`` and the model's name, with
metadata linking them to the model (``model``: name, kind, weights SHA-256, trained)
and the catalogue's ``provenance`` (job, args, library versions, input SHA-256s). A
re-run writes the same files again (temp name, then rename): nothing is duplicated.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nora_lab.archive.layout import atomic_target, sha256
from nora_lab.batch.registry import register_job
from nora_lab.errors import SegmentError
from nora_lab.segment import store
from nora_lab.segment.model import FILES, detect_kind, load_model

if TYPE_CHECKING:
    from nora_lab.archive import Project
    from nora_lab.batch import BatchRun

__all__ = ["segment_apply", "apply", "apply_job", "import_model", "output_folder"]

JOB = "segment_apply"


def output_folder(model: str) -> str:
    """Where a model's predictions go inside a study: ``seg/<model>``."""
    return f"seg/{model}"


def _contrasts(first: str, patterns: list[str]) -> list[str]:
    """The study's file for each contrast after the first (matched in its folder)."""
    from nora_lab.archive.patterns import to_regex

    if len(patterns) <= 1:
        return [first]
    study = Path(first).parent.parent
    rels = sorted(p.relative_to(study).as_posix() for p in study.rglob("*") if p.is_file()
                  and not p.name.startswith("."))
    out = [first]
    for pat in patterns[1:]:
        rx = to_regex(pat)
        hits = [r for r in rels if rx.match(r if "/" in pat else r.rsplit("/", 1)[-1])]
        if len(hits) != 1:
            raise SegmentError(f"study {os.environ.get('NORA_PSID', study)}: "
                               f"{'no file' if not hits else f'{len(hits)} files'} match the "
                               f"model's contrast pattern {pat!r}; expected one")
        out.append(str(study / hits[0]))
    return out


@register_job(JOB, args={"image": "FILE", "out": "PATHOUT"})
def segment_apply(image: str, out: str, model: str = "", tta: bool = False) -> None:
    """Segment a study with a stored model: a label map and one ROI per class."""
    import nibabel as nib

    m = load_model(model)
    files = _contrasts(image, list(m.config.images))
    imgs: list[Any] = [nib.load(f) for f in files]
    labels = m.predict(imgs if len(imgs) > 1 else imgs[0], tta=tta)
    affine = imgs[0].affine
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    written = {"labels.nii.gz": labels}
    written.update({f"{c}.nii.gz": (labels == k).astype(np.uint8)
                    for k, c in enumerate(m.classes, 1)})
    for fname, data in written.items():
        with atomic_target(target / fname, overwrite=True) as tmp:
            nib.save(nib.Nifti1Image(data.astype(np.uint8), affine), str(tmp))
    _record_meta(m, files, target, list(written), tta)


def _record_meta(m: Any, files: list[str], target: Path, names: list[str], tta: bool) -> None:
    """The link to the model and the provenance of every output, in ``$NORA_JOB_META``."""
    dest = os.environ.get("NORA_JOB_META")
    if not dest:
        return
    rec = m.record
    link = {"name": m.name, "kind": m.kind, "classes": list(m.classes),
            "weights_sha256": rec.get("weights_sha256"), "trained": rec.get("finished")}
    prov = {"job": JOB, "args": {"model": m.name, "tta": tta}, "library": "monai",
            "version": store.versions().get("monai"), "libraries": store.versions(),
            "inputs": [{"arg": "image", "file": f, "sha256": sha256(Path(f))} for f in files],
            "study": os.environ.get("NORA_PSID"), "batch": os.environ.get("NORA_BATCH"),
            "run": os.environ.get("NORA_RUN"), "created": store.now()}
    meta = {str(target / n): {"model": link, "provenance": prov,
                              **({"class": n.split(".")[0]} if n != "labels.nii.gz" else {})}
            for n in names}
    with atomic_target(Path(dest), overwrite=True) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))


def apply_job(project: Project, model: str, *, tta: bool = False) -> Any:
    """The batch job that applies a stored model (``Job.builtin("segment_apply", …)``)."""
    from nora_lab.batch import Job

    rec = store.get_record(project, model)
    if rec.get("status") not in ("done", "imported"):
        raise SegmentError(f"model {model!r} is {rec.get('status')!r}: wait until its training "
                           "is done (or train it again) before applying it")
    images = rec["config"]["images"]
    tags = ",".join(["segmentation", "roi", model])
    return Job.builtin(JOB, name=f"segment {model}", image=images[0],
                       out=f"{output_folder(model)} TAG({tags})",
                       model=str(store.model_folder(project, model)), tta=tta)


def apply(project: Project, model: str, studies: Any = None, *, filters: Any = None,
          tta: bool = False, wait: bool = True, progress: bool = False,
          **options: Any) -> BatchRun:
    """Segment the selected studies with a stored model, as a batch (one job per study).

    Parameters
    ----------
    project, model
        The project and the stored model's name.
    studies, filters
        As for :func:`nora_lab.batch.launch` (default: every study).
    tta
        Average over flips.
    wait, progress
        Block until every study is done (with the batch's progress bar).
    **options
        Batch settings and launch options (``backend="slurm"``, ``memory=`` …).

    Returns
    -------
    nora_lab.batch.BatchRun
    """
    from nora_lab.batch import Batch, launch

    batch = Batch(f"segment_{model}", [apply_job(project, model, tta=tta)])
    return launch(batch, project, studies, filters=filters, wait=wait, progress=progress,
                  **options)


def import_model(project: Project, name: str, source: str | os.PathLike, *,
                 overwrite: bool = False, **config: Any) -> dict[str, Any]:
    """Store a model trained elsewhere (TorchScript, ONNX, MONAI bundle) in the project.

    It is loaded once first (so a file its library cannot read is refused with the
    reason), then copied into the model's folder; ``config`` as for
    :func:`~nora_lab.segment.load_model` (``classes``, ``images``, ``spacing``, ``patch``).

    Returns
    -------
    dict
        The stored record (``status: imported``).
    """
    from nora_lab.errors import AlreadyExistsError, NotFoundError

    src = Path(source)
    m = load_model(src, device="cpu", **config)
    try:
        store.get_record(project, name)
        if not overwrite:
            raise AlreadyExistsError(f"project {project.name!r} has a model {name!r} "
                                     "(overwrite=True replaces it)")
    except NotFoundError:
        pass
    kind = detect_kind(src)
    folder = store.model_folder(project, name)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / FILES[kind]
    tmp = folder / f".nora-tmp-{os.getpid()}-{dest.name}"
    if src.is_dir():
        shutil.copytree(src, tmp)
    else:
        shutil.copyfile(src, tmp)
    if dest.is_dir():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    record: dict[str, Any] = {
              "name": name, "kind": kind, "config": m.config.to_dict(), "status": "imported",
              "source": str(src.resolve()), "trained_on": [], "validated_on": [],
              "versions": store.versions(), "created": store.now(), "finished": store.now(),
              "user": project.archive.user,
              "weights_sha256": sha256(dest) if dest.is_file() else None}
    store.save_record(project, name, record)
    return record

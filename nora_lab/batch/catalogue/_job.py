"""What every built-in processing job shares: registration with its library, atomic
outputs, provenance, and errors that name the study, the input and the cause.

A catalogue job is a plain function, registered with :func:`catalogue_job`::

    @catalogue_job("n4", args={"image": "FILE", "out": "OUT"}, library="SimpleITK")
    def n4(image: str, out: str, shrink: int = 2) -> None:
        img = read_sitk(image, "image")
        ...
        with output(out) as tmp:
            sitk.WriteImage(corrected, str(tmp))

Run as a batch job (or called directly), the wrapper

* turns any failure into a :class:`~nora_lab.errors.ProcessingError` naming the study
  (``$NORA_PSID``), the input and the cause;
* records the job's provenance for each output — the job, its arguments, the libraries
  and their versions, every input file's SHA-256 — in ``$NORA_JOB_META``, which the
  batch runner stores as the output file's metadata when it registers it
  (:func:`nora_lab.batch.catalogue.provenance` reads it back).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import inspect
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from nora_lab.archive.layout import atomic_target, sha256
from nora_lab.batch.registry import parse_spec, register_job
from nora_lab.errors import NoraError, ProcessingError

__all__ = ["catalogue_job", "output", "fail", "study", "read_sitk", "read_ants", "read_nib",
           "versions", "CATALOGUE"]

#: job name -> the libraries it is built on (main library first), in registration order
CATALOGUE: dict[str, tuple[str, ...]] = {}

#: import name -> distribution name, for versions
_DISTRIBUTIONS = {"ants": "antspyx", "SimpleITK": "SimpleITK", "dipy": "dipy",
                  "nilearn": "nilearn", "nibabel": "nibabel"}


def study() -> str:
    """The study a job runs for (``$NORA_PSID``), or a note that it was called directly."""
    return os.environ.get("NORA_PSID") or os.environ.get("NORA_SUBJECT") or "(no study: called directly)"


def fail(job: str, cause: str, *, arg: str | None = None, path: str | None = None) -> ProcessingError:
    """A :class:`ProcessingError` naming the study, the job, the input and the cause."""
    where = f"study {study()}, job {job}"
    if arg is not None:
        where += f", input {arg}={path}" if path is not None else f", input {arg}"
    return ProcessingError(f"{where}: {cause}")


@functools.cache
def versions(*libraries: str) -> dict[str, str]:
    """``{distribution: version}`` of the libraries a job uses (and nora_lab's)."""
    out = {}
    for lib in (*libraries, "nora_lab"):
        dist = _DISTRIBUTIONS.get(lib, lib)
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


@contextlib.contextmanager
def output(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (same extension), renamed onto it on success.

    Nothing is left under the real name when the job fails half way.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(dest, overwrite=True) as tmp:
        yield tmp


def _read(job: str, arg: str, path: str, reader: Callable[[str], Any]) -> Any:
    if not os.path.isfile(path):
        raise fail(job, "no such file", arg=arg, path=path)
    try:
        return reader(path)
    except Exception as exc:  # noqa: BLE001 - the library's reason, named
        raise fail(job, f"cannot read it as an image ({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else exc!r})",
                   arg=arg, path=path) from exc


def read_sitk(path: str, arg: str, job: str = "", pixel: Any = None) -> Any:
    """A SimpleITK image from ``path`` (float32 unless ``pixel``), or a named error."""
    import SimpleITK as sitk

    ptype = sitk.sitkFloat32 if pixel is None else pixel
    return _read(job or _current.get("job", "?"), arg, path, lambda p: sitk.ReadImage(p, ptype))


def read_ants(path: str, arg: str, job: str = "") -> Any:
    """An ANTs image from ``path``, or a named error."""
    import ants

    return _read(job or _current.get("job", "?"), arg, path, lambda p: ants.image_read(p))


def read_nib(path: str, arg: str, job: str = "") -> Any:
    """A nibabel image from ``path`` (data checked readable), or a named error."""
    import nibabel as nib

    def load(p: str) -> Any:
        img = nib.load(p)
        img.get_fdata(dtype="float32")
        return img

    return _read(job or _current.get("job", "?"), arg, path, load)


_current: dict[str, str] = {}  # the job running in this process (for the readers' messages)


def _relative(path: str) -> str:
    """An input path as ``<subject>/<study>/<file>`` inside the project, when it is."""
    root, proj = os.environ.get("NORA_ROOT"), os.environ.get("NORA_PROJECT")
    if root and proj:
        base = Path(root) / proj
        with contextlib.suppress(ValueError):
            return Path(path).resolve().relative_to(base.resolve()).as_posix()
    return str(path)


def _files(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _record(name: str, libraries: Sequence[str], kinds: Mapping[str, str],
            values: Mapping[str, Any]) -> None:
    """Write the provenance of every output into ``$NORA_JOB_META`` (if set)."""
    target = os.environ.get("NORA_JOB_META")
    if not target:
        return
    inputs = [{"arg": k, "file": _relative(p), "sha256": sha256(Path(p))}
              for k, kind in kinds.items() if kind == "FILE" for p in _files(values.get(k))]
    outputs = []
    for k, kind in kinds.items():
        if kind == "OUT":
            outputs.append(str(values[k]))
        elif kind == "PATHOUT":
            outputs += [str(p) for p in sorted(Path(values[k]).rglob("*")) if p.is_file()]
    args = {k: (_relative(v) if kinds[k] in ("FILE", "OUT", "PATHOUT") and isinstance(v, str)
                else [_relative(x) for x in v] if isinstance(v, (list, tuple)) else v)
            for k, v in values.items()}
    libs = versions(*libraries)
    record = {"job": name, "args": args, "library": next(iter(libs)),
              "version": next(iter(libs.values())), "libraries": libs, "inputs": inputs,
              "study": os.environ.get("NORA_PSID"), "batch": os.environ.get("NORA_BATCH"),
              "run": os.environ.get("NORA_RUN"),
              "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    meta = {path: {"provenance": record} for path in outputs}
    with output(target) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))


def catalogue_job(name: str, *, args: Mapping[str, str], library: str | Sequence[str],
                  description: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a processing function as the built-in job ``name`` (a decorator).

    Parameters
    ----------
    name
        The job's name in batches (``Job.builtin(name, ...)``).
    args
        ``{parameter: type}`` as for :func:`~nora_lab.batch.register_job`.
    library
        The library (or libraries, main first) the job is built on: their versions go
        into each output's provenance.
    description
        One line for job lists (default: the docstring's first line).

    Returns
    -------
    The decorator; the decorated function runs the job when called (in a batch or
    directly) and raises :class:`~nora_lab.errors.ProcessingError` on failure.
    """
    libraries = (library,) if isinstance(library, str) else tuple(library)

    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        kinds = {p: parse_spec(args[p])[0] if p in args else "" for p in sig.parameters}

        @functools.wraps(func)
        def job(*a: Any, **kw: Any) -> Any:
            bound = sig.bind(*a, **kw)
            bound.apply_defaults()
            _current["job"] = name
            try:
                result = func(*bound.args, **bound.kwargs)
            except NoraError:
                raise
            except Exception as exc:  # noqa: BLE001 - named with the study and inputs
                files = ", ".join(f"{k}={v}" for k, kind in kinds.items() if kind == "FILE"
                                  for v in _files(bound.arguments.get(k)))
                raise fail(name, f"{type(exc).__name__}: {exc}".strip(),
                           arg=files or None) from exc
            _record(name, libraries, kinds, bound.arguments)
            return result

        register_job(name, job, args=args, description=description)
        CATALOGUE[name] = libraries
        return job

    return deco

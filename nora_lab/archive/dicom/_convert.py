"""Run dcm2niix on one series and check what it wrote.

dcm2niix (the pinned PyPI wheel) is handed exactly one series at a time: a private
folder of symlinks to that series' files, so that series convert in parallel and a
file of another series can never leak in. Its finer splits inside a series (echoes,
orientations, phase/magnitude, sizes, tilt-corrected or equalized copies) all come
back as outputs of that series.

The flags are explicit, none comes from a user's ``~/.dcm2nii.ini`` (``-g i``):

=========  ======  ===================================================================
``-z``     ``n``   uncompressed: nora_lab gzips in parallel afterwards (:mod:`._compress`)
``-b``     ``y``   BIDS sidecar (nora_lab extends it with source UIDs and archive keys)
``-ba``    ``n``   identities kept by dcm2niix; nora_lab strips them in pseudonymized
                   projects itself, keeping dates (which ``-ba y`` would drop)
``-p``     ``y``   **Philips: "precise" floating-point scaling.** Voxel values are
                   ``(stored·RS + RI) / (RS·SS)`` (the scale slope 2005,100E), i.e.
                   physical, comparable across scans and protocols; the NIfTI keeps
                   the integers and carries the factor in ``scl_slope``/``scl_inter``.
                   (Display scaling, ``-p n``, is what dicom2nifti stores.)
``-l``     ``o``   integers stored as in the DICOM (no rescaling to 16-bit range)
``-x``     ``n``   no cropping
``-i``     ``n``   localizers and derived images are converted too
``-w``     ``2``   name clashes get a suffix, never overwrite
``-d``     ``0``   only the series' own folder
=========  ======  ===================================================================

``-m`` is left at dcm2niix's default (automatic merging of 2D slices): passing it, even
with its default value, switches dcm2niix to ignoring SeriesInstanceUID.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nora_lab.archive.dicom._scan import Instance
from nora_lab.errors import DicomImportError

__all__ = ["DCM2NIIX_ARGS", "Output", "Conversion", "dcm2niix_path", "dcm2niix_version",
           "convert_series", "check_nifti", "scrub_nifti_header"]

DCM2NIIX_ARGS = ("-g", "i", "-z", "n", "-b", "y", "-ba", "n", "-p", "y", "-l", "o",
                 "-x", "n", "-i", "n", "-w", "2", "-d", "0")
_SIDE_EXT = (".json", ".bval", ".bvec")


def dcm2niix_path() -> str:
    """The dcm2niix binary of the pinned wheel (not a system one, not the Python shim)."""
    try:
        import dcm2niix
    except ImportError as exc:
        raise DicomImportError(
            "dcm2niix is not installed: pip install 'dcm2niix==1.0.20260724' "
            "(it is a dependency of nora_lab)") from exc
    path = getattr(dcm2niix, "bin", None)
    if not path or not os.access(path, os.X_OK):
        raise DicomImportError(f"the dcm2niix wheel has no runnable binary at {path!r}; "
                               "reinstall it: pip install --force-reinstall dcm2niix")
    return str(path)


def dcm2niix_version() -> str:
    import dcm2niix

    return getattr(dcm2niix, "__version__", "unknown")


@dataclass
class Output:
    """One image dcm2niix wrote, with its side files (paths in the work folder)."""

    stem: str
    nii: Path
    sidecars: dict[str, Path] = field(default_factory=dict)  # ".json", ".bval", ".bvec"
    problem: str | None = None
    shape: tuple[int, ...] = ()


@dataclass
class Conversion:
    """What one dcm2niix run on one series gave."""

    outputs: list[Output] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # dcm2niix's own lines, verbatim
    warnings: list[str] = field(default_factory=list)
    returncode: int = 0
    seconds: float = 0.0
    command: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return any(o.problem is None for o in self.outputs)


def _link_series(instances: list[Instance], folder: Path) -> None:
    folder.mkdir(parents=True)
    for n, inst in enumerate(instances):
        os.symlink(os.path.abspath(inst.path), folder / f"{n:06d}.dcm")


_NOISE = re.compile(
    r"^(Chris Rorden's dcm2niiX|Found \d+ DICOM|Conversion required|Defaults ignored)")


#: glibc's malloc asks for transparent huge pages: dcm2niix touches about 11 MB of fresh
#: memory on every run, whatever the series' size; with 4 KiB pages that is 3,500 page
#: faults, a third of a small series' conversion time (15 → 10 ms CPU per run measured).
#: Older glibc ignores the setting; without THP it changes nothing.
_MALLOC_TUNABLE = "glibc.malloc.hugetlb=1"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    have = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" not in have:
        env["GLIBC_TUNABLES"] = f"{have}:{_MALLOC_TUNABLE}" if have else _MALLOC_TUNABLE
    return env


def convert_series(instances: list[Instance], work: Path, name: str, *,
                   timeout: float | None = None, folder: str | None = None) -> Conversion:
    """Convert one series with dcm2niix into ``work/out`` (uncompressed NIfTI).

    Parameters
    ----------
    instances
        The series' instances (files are symlinked, never copied).
    work
        An empty private folder for this series.
    name
        The output file stem (dcm2niix adds its postfixes for splits).
    timeout
        Seconds before dcm2niix is stopped (None: no limit).
    folder
        A folder holding exactly these instances and no other DICOM: dcm2niix reads it
        directly instead of a folder of symlinks (saves one symlink per file).

    Returns
    -------
    Conversion
        Outputs checked with nibabel; a failing output carries its ``problem``.
    """
    out = work / "out"
    if folder is not None:
        src = Path(folder)
    else:
        src = work / "in"
        _link_series(instances, src)
    out.mkdir(parents=True)
    cmd = [dcm2niix_path(), *DCM2NIIX_ARGS, "-f", name, "-o", str(out), str(src)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False, env=_child_env())
        text, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        text = ((exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes)
                else (exc.stdout or ""))
        text += f"\nError: dcm2niix stopped after {timeout} s"
        rc = -9
    conv = Conversion(returncode=rc, seconds=time.perf_counter() - t0, command=cmd)
    for line in text.splitlines():
        line = line.strip().replace(str(out) + os.sep, "").replace(str(src) + os.sep, "")
        if not line or _NOISE.match(line):
            continue
        conv.messages.append(line)
        if line.lower().startswith(("warning", "error", "unsupported", "unable")):
            conv.warnings.append(line)
    for nii in sorted(out.glob("*.nii")):
        o = Output(nii.stem, nii)
        for ext in _SIDE_EXT:
            side = nii.with_suffix(ext)
            if side.exists():
                o.sidecars[ext] = side
        o.problem, o.shape = check_nifti(nii)
        conv.outputs.append(o)
    return conv


def check_nifti(path: Path) -> tuple[str | None, tuple[int, ...]]:
    """(problem or None, shape) of a NIfTI file, from its header only.

    Checked: nibabel can read it; every dimension is at least 1; the file holds all the
    voxels the header promises; the affine is finite and invertible; the header's
    scaling (``scl_slope``/``scl_inter``) holds no NaN or infinity.
    """
    import nibabel as nib
    import numpy as np

    try:
        img: Any = nib.load(path)
        hdr: Any = img.header
        shape = tuple(int(d) for d in img.shape)
        with open(path, "rb") as fh:
            raw = type(hdr).from_fileobj(fh, check=False)
    except Exception as exc:  # noqa: BLE001
        return f"nibabel cannot read it: {type(exc).__name__}: {exc}", ()
    if not shape or min(shape) < 1:
        return f"empty image (shape {shape})", shape
    nbytes = int(np.prod(shape)) * hdr.get_data_dtype().itemsize
    offset = int(raw["vox_offset"])
    if os.path.getsize(path) < offset + nbytes:
        return (f"file too short: {os.path.getsize(path)} bytes for {nbytes} voxel bytes "
                f"at offset {offset}"), shape
    affine = img.affine
    if not np.all(np.isfinite(affine)):
        return "affine holds NaN or infinity", shape
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        return "affine is singular (zero voxel size?)", shape
    for key in ("scl_slope", "scl_inter"):
        value = float(raw[key])
        if not math.isfinite(value):
            return f"header {key} is {value} (no NaN or infinity allowed in scaling)", shape
    return None, shape


_SAFE_DESCRIP = re.compile(r"^(TE|TR|TI|FA|Time|phase|mb|dwell|ec|acq|b)=[-+.\w]*$")


def scrub_nifti_header(path: Path) -> None:
    """Remove text that could identify a patient from a NIfTI header, in place.

    ``aux_file``, ``db_name`` and ``intent_name`` are emptied; of ``descrip`` only
    dcm2niix's acquisition tokens (``TE=…;Time=…;phase=…``) are kept.
    """
    import nibabel as nib

    with open(path, "r+b") as fh:
        sizeof = int.from_bytes(fh.read(4), "little")
        if sizeof not in (348, 540):
            sizeof = int.from_bytes(sizeof.to_bytes(4, "little"), "big")
        cls = nib.Nifti2Header if sizeof == 540 else nib.Nifti1Header
        fh.seek(0)
        hdr = cls.from_fileobj(fh, check=False)
        descrip = bytes(hdr["descrip"]).split(b"\0")[0].decode("ascii", "replace")
        tokens = [t for t in descrip.split(";") if _SAFE_DESCRIP.match(t.strip())]
        hdr["descrip"] = ";".join(tokens).encode()[:79]
        for key in ("aux_file", "db_name", "intent_name"):
            if key in hdr:
                hdr[key] = b""
        fh.seek(0)
        fh.write(hdr.binaryblock)

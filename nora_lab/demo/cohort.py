"""The demo cohort: who the subjects are and how each one differs from the template.

Six subjects, ``demo01`` … ``demo06``, three controls and three patients. Each one has
its own head pose in the scanner (a rigid transform of a few degrees and millimetres),
a smooth multiplicative bias field, a receive gain and offset, and a noise level —
drawn from a generator seeded by the subject's number, so every build makes the same
subjects, byte for byte. ``demo06`` was scanned with a noisy coil: its T1 fails the
demo's quality-control batch (:mod:`nora_lab.demo.qc`), so the archive holds a job in
error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Subject", "cohort", "rotation"]

#: subjects made when no number is given
SIZE = 6
#: the subject with the noisy coil (1-based), whose QC job fails
NOISY = 6


@dataclass(frozen=True)
class Subject:
    """One demo subject: identity, study, and what the scanner did to the anatomy.

    Attributes
    ----------
    number : int
        1-based; the subject id is ``demo{number:02d}``.
    group : str
        ``"control"`` or ``"patient"`` (a study tag).
    sex, age : str, int
        For the DICOM header (PatientSex, PatientAge).
    date : str
        The study date, ``YYYYMMDD``.
    angles_deg : tuple of float
        Head rotation about the x (pitch), y (roll) and z (yaw) axes.
    shift_mm : tuple of float
        Head translation (RAS mm).
    bias : tuple of float
        Coefficients of the log bias field over (x, y, z, x², y², z², xy, yz) in
        coordinates scaled to about ±1 over the head.
    gain, offset : float
        Receive gain and offset applied to the signal.
    noise : float
        Standard deviation of the Gaussian noise of each quadrature channel (the
        magnitude image is Rician), in the units of the signal (white matter ≈ 870).
    """

    number: int
    group: str
    sex: str
    age: int
    date: str
    angles_deg: tuple[float, float, float]
    shift_mm: tuple[float, float, float]
    bias: tuple[float, ...]
    gain: float
    offset: float
    noise: float

    @property
    def id(self) -> str:
        return f"demo{self.number:02d}"

    @property
    def study(self) -> str:
        """The study id (the DICOM StudyID): the psid is ``f"{id}#{study}"``."""
        return "MR1"

    @property
    def psid(self) -> str:
        return f"{self.id}#{self.study}"

    def pose(self) -> np.ndarray:
        """4×4 MNI (RAS mm) → this subject's scanner (RAS mm): rotation about the
        template's origin, then the shift."""
        m = np.eye(4)
        m[:3, :3] = rotation(*self.angles_deg)
        m[:3, 3] = self.shift_mm
        return m


def rotation(pitch: float, roll: float, yaw: float) -> np.ndarray:
    """3×3 rotation: about x by ``pitch``, then y by ``roll``, then z by ``yaw`` (degrees)."""
    a, b, c = np.deg2rad([pitch, roll, yaw])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _subject(number: int) -> Subject:
    rng = np.random.default_rng(1000 + number)
    r = lambda lo, hi, n=None: rng.uniform(lo, hi, n)  # noqa: E731 - one line per parameter
    group = "control" if number % 2 else "patient"
    return Subject(
        number=number,
        group=group,
        sex="F" if rng.random() < 0.5 else "M",
        age=int(rng.integers(24, 71)),
        date=f"2024{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}",
        angles_deg=tuple(round(float(x), 2) for x in r(-6, 6, 3)),
        shift_mm=tuple(round(float(x), 2) for x in r(-4, 4, 3)),
        bias=tuple(round(float(x), 3) for x in r(-0.12, 0.12, 8)),
        gain=round(float(r(0.9, 1.12)), 3),
        offset=round(float(r(-15, 15)), 1),
        noise=90.0 if number == NOISY else round(float(r(14, 26)), 1),
    )


def cohort(size: int = SIZE) -> list[Subject]:
    """The demo subjects ``demo01`` … (the same ones on every call)."""
    return [_subject(n) for n in range(1, size + 1)]

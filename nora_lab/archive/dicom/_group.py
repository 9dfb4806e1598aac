"""Group scanned instances into studies and series, and check each series' geometry.

A *series* is the instances sharing StudyInstanceUID, SeriesInstanceUID and
SeriesNumber (copies edited to a new series number stay apart, as dcm2niix keeps
them) — except where dcm2niix stacks several such series into one output (a Siemens
XA 4D run exported as one series per volume, …): those are merged into one series,
by dcm2niix's rules (:mod:`._dcm2niix_grouping`). A *study* is the series sharing a
StudyInstanceUID — and, when the import overrides ids by a ``pattern`` on the source
path, the same pattern result.

Geometry is checked from the headers alone, and problems become notes of the series'
import report (never a silent fix): missing slices, non-uniform slice spacing,
incomplete volumes, missing instance numbers, gantry tilt.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from nora_lab.archive.dicom._dcm2niix_grouping import stack_like_dcm2niix
from nora_lab.archive.dicom._scan import Instance

__all__ = ["Series", "Study", "group", "geometry_notes"]

_TILT_TOLERANCE_DEG = 0.1


@dataclass
class Series:
    """The instances of one series, sorted, and what was noticed about them."""

    study_uid: str
    series_uid: str
    series_number: int | None
    instances: list[Instance] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: (SeriesInstanceUID, SeriesNumber) of each series merged into this one (empty: none)
    parts: list[tuple[str, int | None]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, int | None]:
        return (self.study_uid, self.series_uid, self.series_number)

    @property
    def part_keys(self) -> list[tuple[str, int | None]]:
        """(SeriesInstanceUID, SeriesNumber) of every series this one holds."""
        return self.parts or [(self.series_uid, self.series_number)]

    @property
    def first(self) -> Instance:
        return self.instances[0]

    @property
    def description(self) -> str:
        f = self.first
        return f.series_description or f.protocol_name or f.modality or "series"


@dataclass
class Study:
    """The series of one study, with the ids an import override assigned (if any)."""

    study_uid: str
    override: tuple[str | None, str | None] = (None, None)
    series: list[Series] = field(default_factory=list)

    def common(self, name: str) -> str:
        """The most common non-empty value of an :class:`Instance` field in the study."""
        values = Counter(getattr(i, name) for s in self.series for i in s.instances
                         if getattr(i, name))
        return values.most_common(1)[0][0] if values else ""

    @property
    def n_instances(self) -> int:
        return sum(len(s.instances) for s in self.series)


def group(instances: Iterable[Instance],
          override: Callable[[Instance], tuple[str | None, str | None]] | None = None
          ) -> list[Study]:
    """Group instances into studies and series (sorted), with geometry notes.

    Parameters
    ----------
    instances
        Scanned instances.
    override
        ``instance -> (patients_id, studies_id)`` from the import's overrides
        (``None`` where the header decides).
    """
    studies: dict[tuple, Study] = {}
    series: dict[tuple, Series] = {}
    for inst in instances:
        ov = override(inst) if override else (None, None)
        skey = (ov, inst.study_uid)
        study = studies.get(skey)
        if study is None:
            study = studies[skey] = Study(inst.study_uid, ov)
        key = (skey, inst.series_uid, inst.series_number)
        s = series.get(key)
        if s is None:
            s = series[key] = Series(inst.study_uid, inst.series_uid, inst.series_number)
            study.series.append(s)
        s.instances.append(inst)
    for study in studies.values():
        study.series = stack_like_dcm2niix(study.series)
        for s in study.series:
            s.instances.sort(key=_instance_order)
            s.notes.extend(geometry_notes(s.instances))
        study.series.sort(key=lambda s: (s.series_number is None, s.series_number or 0,
                                         s.series_uid))
    return sorted(studies.values(), key=lambda st: (st.common("patient_id"), st.study_uid))


def _instance_order(i: Instance) -> tuple:
    return (i.series_number or 0, i.acquisition_number or 0,
            i.instance_number if i.instance_number is not None else 1 << 30, i.source)


def _dot(a, b) -> float:  # noqa: ANN001
    return sum(x * y for x, y in zip(a, b, strict=True))


def _normal(o: tuple[float, ...]) -> tuple[float, float, float]:
    r, c = o[:3], o[3:6]
    n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    norm = math.sqrt(sum(v * v for v in n)) or 1.0
    return (n[0] / norm, n[1] / norm, n[2] / norm)


def geometry_notes(instances: list[Instance]) -> list[str]:
    """Problems visible in the headers of one series' instances (may be empty)."""
    notes: list[str] = []
    numbers = sorted({i.instance_number for i in instances if i.instance_number is not None})
    if len(numbers) > 1 and len(numbers) == len(instances):
        missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        if missing and len(missing) < len(numbers):
            shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
            notes.append(f"missing instance numbers: {shown} "
                         f"({len(missing)} of {numbers[-1] - numbers[0] + 1})")
    tilts = {round(i.gantry_tilt, 2) for i in instances if i.gantry_tilt}
    if tilts:
        notes.append(f"gantry tilt {', '.join(f'{t:g}' for t in sorted(tilts))}° in the headers "
                     "(dcm2niix writes a tilt-corrected copy with a _Tilt suffix)")
    single = [i for i in instances if i.frames == 1 and i.position and i.orientation
              and "MOSAIC" not in (t.upper() for t in i.image_type)]
    if len(single) < 3:
        return notes
    by_orientation: dict[tuple, list[Instance]] = defaultdict(list)
    for i in single:
        by_orientation[tuple(round(v, 3) for v in i.orientation)].append(i)  # type: ignore[union-attr]
    main = max(by_orientation.values(), key=len)
    if len(by_orientation) > 1 and len(main) < len(single):
        notes.append(f"{len(by_orientation)} slice orientations in one series "
                     "(e.g. a localizer; dcm2niix writes one file per orientation)")
    if len(main) < 3:
        return notes
    n = _normal(main[0].orientation)  # type: ignore[arg-type]
    depth = sorted(_dot(i.position, n) for i in main)
    positions: list[float] = []
    counts: list[int] = []
    for d in depth:
        if positions and abs(d - positions[-1]) < 1e-3:
            counts[-1] += 1
        else:
            positions.append(d)
            counts.append(1)
    if len(set(counts)) > 1:
        notes.append(f"incomplete volumes: slice positions hold between {min(counts)} and "
                     f"{max(counts)} images (images missing from some volumes)")
    if len(positions) < 3:
        return notes
    gaps = [b - a for a, b in zip(positions, positions[1:], strict=False)]
    step = sorted(gaps)[len(gaps) // 2]
    tol = max(1e-3, 0.01 * step)
    holes = [(a, g) for a, g in zip(positions, gaps, strict=False) if g > 1.5 * step]
    if holes:
        lost = sum(round(g / step) - 1 for _, g in holes)
        where = ", ".join(f"after {a:.2f} mm" for a, _ in holes[:5])
        notes.append(f"missing slices: about {lost} slice(s) of {step:.3g} mm missing ({where})")
    odd = [g for g in gaps if abs(g - step) > tol and g <= 1.5 * step]
    if odd:
        notes.append(f"non-uniform slice spacing: {min(gaps):.4g}–{max(gaps):.4g} mm "
                     f"(typical {step:.4g} mm; dcm2niix may write an _Eq equalized copy)")
    first = min(main, key=lambda i: _dot(i.position, n))
    last = max(main, key=lambda i: _dot(i.position, n))
    v = [b - a for a, b in zip(first.position, last.position, strict=True)]  # type: ignore[arg-type]
    length = math.sqrt(sum(x * x for x in v))
    if length > 0 and not tilts:
        cosang = min(1.0, abs(_dot(v, n)) / length)
        angle = math.degrees(math.acos(cosang))
        if angle > _TILT_TOLERANCE_DEG:
            notes.append(f"gantry tilt: slices are stacked {angle:.2f}° off their normal "
                         "(dcm2niix writes a tilt-corrected copy with a _Tilt suffix)")
    return notes

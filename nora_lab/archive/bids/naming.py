"""BIDS names for imported series, from their dcm2niix sidecars.

:func:`bids_name` decides the datatype and suffix of one series (``anat/T1w``,
``func/task-rest_bold``, ``dwi/dwi``, ``fmap/phasediff`` …) from its sidecar: first the
user's ``mapping``, then the built-in :data:`RULES`. A mapping is
``{glob: "datatype/[entity-label_]suffix" or None}``; the glob is matched, case-blind,
against the series' ``SeriesDescription`` (else ``ProtocolName``, else its folder name),
and ``None`` leaves the series out:

>>> bids_name({"SeriesDescription": "MPRAGE_S2", "Modality": "MR"}).path_part
'anat/T1w'
>>> bids_name({"SeriesDescription": "resting state", "Modality": "MR"}).path_part
'func/task-rest_bold'
>>> bids_name({"SeriesDescription": "my_scan"}, mapping={"my_*": "anat/T2w"}).path_part
'anat/T2w'
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nora_lab.errors import ConfigError

__all__ = ["BidsName", "bids_name", "RULES", "parse_target", "label"]

#: Built-in rules, in order: (globs on the lower-cased description, target).
RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("*flair*",), "anat/FLAIR"),
    (("*bold*", "*fmri*", "*rest*", "*task*", "*epi_run*"), "func/bold"),
    (("*field*map*", "*fmap*", "*b0map*", "*gre_field*"), "fmap/fieldmap"),
    (("*t2star*", "*t2 star*", "*t2\\**", "*swi*"), ""),  # no raw BIDS name: left out
    (("*t2*",), "anat/T2w"),
    (("*t1*", "*mprage*", "*spgr*", "*bravo*", "*tfl3d*", "*mp2rage*"), "anat/T1w"),
    (("*pd*", "*proton*density*"), "anat/PDw"),
)
_DATATYPES = ("anat", "func", "dwi", "fmap", "perf")
_TASK = re.compile(r"task[-_ ]?([a-z0-9]+)")


def label(text: str) -> str:
    """A BIDS label: the letters and digits of ``text`` (``"R3.2.2_x"`` → ``"R322x"``)."""
    return re.sub(r"[^A-Za-z0-9]", "", str(text))


@dataclass(frozen=True)
class BidsName:
    """Where a series goes: ``datatype``, ``suffix`` and extra ``entities`` (``task``)."""

    datatype: str
    suffix: str
    entities: Mapping[str, str] = field(default_factory=dict)

    @property
    def path_part(self) -> str:
        """``"func/task-rest_bold"``: the datatype folder and the name after sub-/ses-."""
        ents = "".join(f"{k}-{v}_" for k, v in self.entities.items())
        return f"{self.datatype}/{ents}{self.suffix}"


def parse_target(target: str) -> BidsName:
    """``"func/task-rest_bold"`` → BidsName('func', 'bold', {'task': 'rest'}).

    Raises
    ------
    ConfigError
        For an unknown datatype or a malformed entity.
    """
    datatype, _, rest = target.partition("/")
    if datatype not in _DATATYPES or not rest:
        raise ConfigError(f"BIDS mapping target {target!r}: expected '<datatype>/[key-value_]"
                          f"suffix' with a datatype of {', '.join(_DATATYPES)}")
    *ents, suffix = rest.split("_")
    entities = {}
    for e in ents:
        k, sep, v = e.partition("-")
        if not sep or not label(k) == k or not label(v) == v or not k or not v:
            raise ConfigError(f"BIDS mapping target {target!r}: entity {e!r} is not "
                              "'key-label' (letters and digits)")
        entities[k] = v
    return BidsName(datatype, suffix, entities)


def describe(meta: Mapping[str, Any], fallback: str = "") -> str:
    """The text a mapping is matched against: SeriesDescription, ProtocolName, folder."""
    return str(meta.get("SeriesDescription") or meta.get("ProtocolName") or fallback)


def bids_name(meta: Mapping[str, Any], *, has_bvec: bool = False, folder: str = "",
              mapping: Mapping[str, str | None] | None = None) -> BidsName | str:
    """The BIDS name of a series, or the reason it has none (a str).

    Parameters
    ----------
    meta
        The dcm2niix sidecar of the series.
    has_bvec
        Whether a ``.bval``/``.bvec`` pair lies beside it (diffusion).
    folder
        The series folder, matched when the sidecar has no description.
    mapping
        The user's rules, tried before :data:`RULES`.
    """
    text = describe(meta, folder)
    low = text.lower()
    for glob, target in (mapping or {}).items():
        if fnmatch.fnmatchcase(low, glob.lower()):
            if target is None:
                return f"left out by the mapping {glob!r}"
            return _complete(parse_target(target), meta, low)
    if has_bvec:
        return BidsName("dwi", "dwi")
    modality = meta.get("Modality", "MR")
    if modality != "MR":
        return f"modality {modality} has no BIDS raw datatype here (map it to export it)"
    for globs, target in RULES:
        if any(fnmatch.fnmatchcase(low, g) for g in globs):
            if not target:
                return f"{text!r} has no raw BIDS suffix (map it to export it)"
            return _complete(parse_target(target), meta, low)
    if any(w in low for w in ("dti", "dwi", "diff")):
        return f"diffusion series {text!r} without .bval/.bvec"
    return (f"no BIDS name for {text or 'a series without description'!r}: give one with "
            f"mapping={{'{low or '*'}': 'anat/T1w'}}")


def _complete(name: BidsName, meta: Mapping[str, Any], low: str) -> BidsName:
    """Fill what the suffix needs: a task for bold, the fieldmap's part."""
    ents = dict(name.entities)
    if name.suffix == "bold" and "task" not in ents:
        m = _TASK.search(low)
        ents = {"task": m.group(1) if m else ("rest" if "rest" in low else "unknown"), **ents}
    suffix = name.suffix
    if name.datatype == "fmap" and suffix == "fieldmap":
        image_type = [str(v).upper() for v in meta.get("ImageType", [])]
        if "P" in image_type or "PHASE" in image_type:
            suffix = "phasediff"
        else:
            suffix = f"magnitude{int(meta.get('EchoNumber', 1) or 1)}"
    return BidsName(name.datatype, suffix, ents)

"""One reader working through one mode of a reading: order, timing, resume, restart.

A session looks up what this reader (or, in joint mode, anyone) has already done and
continues with the first item not done: closing the notebook or the app and opening
the reading again resumes where the reader stopped. Time per item runs from the moment
the item is presented (:attr:`ReadingSession.current`) to :meth:`ReadingSession.submit`.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from nora_lab.errors import ConfigError, PermissionDenied

from . import cases as _cases
from . import results as _results
from .cases import Item

__all__ = ["ReadingSession", "stage_images"]

JOINT = "joint"


def stage_images(project, psid: str, stage) -> list[dict[str, Any]]:  # noqa: ANN001
    """The images of one stage for one study: ``[{"path": Path, **display options}]``.

    A stage image is either a file pattern (``{"pattern": "t1*/*.nii*", "role": "mask"}``;
    its first match in the study is shown) or a saved autoloader recipe
    (``{"autoloader": "name"}``, see docs/autoloader-format.md), which brings its own
    patterns and display settings. This is the one place where images are chosen.
    """
    out = []
    for spec in stage.images:
        if spec.get("autoloader"):
            out += _autoloader_images(project, psid, spec["autoloader"])
            continue
        paths = project.resolve(psid, spec["pattern"])
        if paths:
            out.append({"path": Path(paths[0]),
                        **{k: v for k, v in spec.items() if k != "pattern"}})
    return out


def _autoloader_images(project, psid: str, name: str) -> list[dict[str, Any]]:  # noqa: ANN001
    from nora_lab.archive.recipes import Recipe

    out = []
    study = project.study_dir(psid)
    for it, rels, _ in Recipe.load(project, name).matches(project, psid):
        role = {"auto": None, "roi": "mask"}.get(it.role, it.role)
        if role in ("markers", "surface", "fibers"):
            continue  # readers' own points come from the form; meshes are not read here
        for rel in rels:
            spec = {"path": study / rel, "role": role, "colormap": it.colormap,
                    "window": it.window_for(), "opacity": it.opacity, "color": it.color}
            out.append({k: v for k, v in spec.items() if v is not None})
    return out


class ReadingSession:
    """A reader's pass through one mode of a reading.

    Parameters
    ----------
    reading : Reading
    mode : {"training", "serious"}
    start : bool
        Start timing the first item right away (False: only look at progress).
    clock : callable, optional
        Returns the current UTC time (naive datetime); for tests.
    seed : int, optional
        Seed of ``full`` randomization (default: a fresh one per session).

    Raises
    ------
    nora_lab.errors.PermissionDenied
        The form writes tags or annotation files but the reader may not (editor role).
    """

    def __init__(self, reading, mode: str = "serious", *, start: bool = True,  # noqa: ANN001
                 clock: Callable[[], datetime] | None = None, seed: int | None = None):
        self.reading = reading
        self.config = reading.config
        self.mode = mode
        self.mode_config = self.config.mode(mode)
        self.project = reading.project
        self.user = reading.user
        self.reader = JOINT if self.config.joint else self.user
        self.id = uuid.uuid4().hex
        self.seed = secrets.randbits(64) if seed is None else seed
        self._clock = clock or _results.utcnow
        form = self.config.form
        if (form.tag_items or form.annotations) and self.project.role == "reader" and start:
            what = "writes study tags (useastag)" if form.tag_items else "saves points/ROIs"
            raise PermissionDenied(
                f"reading {reading.name!r}: its form {what}, which needs the editor role on "
                f"project {self.project.name!r}; {self.user!r} is a reader (ask its admin: "
                f"arc.grant({self.project.name!r}, {self.user!r}, 'editor'))")
        self.cases = _cases.select_cases(self.project, self.config, mode)
        psids = list(self.cases["psid"])
        self.items: list[Item] = _cases.items(psids, self.config, self.mode_config,
                                              rng=random.Random(self.seed))
        self._positions = {it: i for i, it in enumerate(self.items)}
        self._started: dict[Item, datetime] = {}
        self._refresh()
        if start:
            _ = self.current

    # --- progress -------------------------------------------------------------------
    def _refresh(self) -> None:
        rows = _results.fetch(self.project, self.reading.name,
                              mode=self.mode, readers=[self.reader])
        self.done = {Item(r["psid"], r["stage"], r["repetition"]) for r in rows}

    @property
    def pending(self) -> list[Item]:
        """Items not yet read, in this session's order.

        With ``stage_order="case"``, a case left between two stages comes first, so that a
        new ``full`` order does not separate its stages.
        """
        pend = [it for it in self.items if it not in self.done]
        if self.config.stage_order == "case":
            begun = {(it.psid, it.repetition) for it in self.done}
            pend.sort(key=lambda it: (it.psid, it.repetition) not in begun)
        return pend

    @property
    def progress(self) -> tuple[int, int]:
        """``(done, total)`` items of this mode."""
        return len(self.done & set(self.items)), len(self.items)

    @property
    def progress_text(self) -> str:
        done, total = self.progress
        return f"{done} of {total} done"

    @property
    def finished(self) -> bool:
        return not self.pending

    @property
    def current(self) -> Item | None:
        """The item to read now (its timer starts the first time it is asked for)."""
        pend = self.pending
        if not pend:
            return None
        item = pend[0]
        if item not in self._started:
            self._started[item] = self._clock()
        return item

    # --- what the reader sees -------------------------------------------------------
    def stage(self, item: Item):  # noqa: ANN201
        return self.config.stages[item.stage]

    def images(self, item: Item | None = None) -> list[dict[str, Any]]:
        """The current (or given) item's images for its stage."""
        item = item or self.current
        return [] if item is None else stage_images(self.project, item.psid, self.stage(item))

    def case_label(self, item: Item | None = None) -> str:
        """What the reader sees as the case's name: its PSID, or "case k" when blinded."""
        item = item or self.current
        if item is None:
            return ""
        if "psid" in self.config.blind_metadata:
            return item.psid
        return f"case {self._case_numbers()[(item.psid, item.repetition)]}"

    def _case_numbers(self) -> dict[tuple[str, int], int]:
        """``(psid, repetition) -> k``: the case's place in its repetition's order (1-based)."""
        out: dict[tuple[str, int], int] = {}
        counts: dict[int, int] = {}
        for it in self.items:
            if (it.psid, it.repetition) not in out:
                counts[it.repetition] = counts.get(it.repetition, 0) + 1
                out[(it.psid, it.repetition)] = counts[it.repetition]
        return out

    def case_info(self, item: Item | None = None) -> dict[str, Any]:
        """The study's metadata the blind mode lets the reader see."""
        item = item or self.current
        if item is None:
            return {}
        row = self.cases[self.cases["psid"] == item.psid].iloc[0].to_dict()
        return {k: row[k] for k in self.config.blind_metadata if k in row}

    def earlier_results(self, item: Item | None = None) -> list[dict[str, Any]]:
        """Earlier answers on the same case the blind mode shows (own, or everyone's)."""
        item = item or self.current
        if item is None or self.config.blind_results == "none":
            return []
        readers = [self.reader] if self.config.blind_results == "own" else None
        rows = _results.fetch(self.project, self.reading.name,
                              mode=self.mode, readers=readers)
        return [{"reader": r["reader"], "stage": r["stage"], "repetition": r["repetition"],
                 "answers": r["answers"]} for r in rows
                if r["psid"] == item.psid and Item(r["psid"], r["stage"], r["repetition"]) != item
                or (r["psid"] == item.psid and r["reader"] != self.reader)]

    # --- answering ------------------------------------------------------------------
    def submit(self, answers: Mapping[str, Any], annotations: Mapping[str, Any] | None = None,
               *, item: Item | None = None) -> Item | None:
        """Save the answers to the current item and move on; returns the next item.

        Parameters
        ----------
        answers
            ``{item name: value}`` for the form's questions (checked by the form).
        annotations
            ``{item name: ROI | nibabel image | PointSet}`` for the form's ``roi`` and
            ``points`` items; saved into the study, the result keeps their paths.
        """
        item = item or self.current
        if item is None:
            raise ConfigError(f"reading {self.reading.name!r} ({self.mode}) is finished: "
                              f"{self.progress_text}")
        if item not in self._positions:
            raise ConfigError(f"{item} is not part of reading {self.reading.name!r} ({self.mode})")
        form = self.config.form
        clean = form.clean(answers)
        refs = self._save_annotations(item, annotations or {})
        started = self._started.pop(item, None) or self._clock()
        ended = self._clock()
        _results.save(self.project, {
            "project_id": self.project.pk, "reading": self.reading.name, "mode": self.mode,
            "reader": self.reader, "entered_by": self.user, "psid": item.psid,
            "stage": item.stage, "repetition": item.repetition,
            "position": self._positions[item], "session": self.id, "answers": clean,
            "annotations": refs, "started": started, "ended": ended,
            "seconds": (ended - started).total_seconds()})
        self._write_tags(item.psid, clean)
        self.done.add(item)
        return self.current

    def _annotation_path(self, item: Item, name: str, suffix: str) -> str:
        return (f"reading/{self.reading.name}/{self.reader}/"
                f"{self.mode}_s{item.stage}_r{item.repetition}_{name}{suffix}")

    def _save_annotations(self, item: Item, annotations: Mapping[str, Any]) -> dict[str, str]:
        from nora_lab.imaging import ROI, PointSet

        items = {it.name: it for it in self.config.form.annotations}
        unknown = sorted(set(annotations) - set(items))
        if unknown:
            raise ConfigError(f"annotations {unknown} are not roi/points items of the form "
                              f"(those are {sorted(items)})")
        refs = {}
        for name, value in annotations.items():
            if value is None:
                continue
            if items[name].type == "points":
                if not isinstance(value, PointSet):
                    raise ConfigError(
                        f"annotation {name!r}: expected a PointSet, got {type(value).__name__}")
                rel = self._annotation_path(item, name, ".ano.json")
                self.project.add_json(value.to_file_dict(), item.psid, rel, overwrite=True)
            else:
                img = value.to_nifti() if isinstance(value, ROI) else value
                if not hasattr(img, "affine"):
                    raise ConfigError(f"annotation {name!r}: expected an ROI or a nibabel image, "
                                      f"got {type(value).__name__}")
                rel = self._annotation_path(item, name, ".nii.gz")
                self.project.add_image(img, item.psid, rel, overwrite=True)
            refs[name] = rel
        return refs

    def _write_tags(self, psid: str, answers: Mapping[str, Any]) -> None:
        for it in self.config.form.tag_items:
            chosen = answers.get(it.name)
            chosen = set(chosen if isinstance(chosen,
                                              list) else ([] if chosen is None else [chosen]))
            others = [str(v) for v in it.values if v not in chosen]
            if others:
                self.project.untag_study(psid, others)
            if chosen:
                self.project.tag_study(psid, [str(v) for v in chosen])

    # --- restart --------------------------------------------------------------------
    def restart(self) -> int:
        """Delete this reader's results of this mode (if the reading allows it) and start over.

        Only the current reader's rows and annotation files go; returns the rows deleted.
        """
        flag = "allowRestartOfTraining" if self.mode == "training" else "allowRestartOfSerious"
        if not self.mode_config.allow_restart:
            raise PermissionDenied(f"reading {self.reading.name!r} does not allow restarting the "
                                   f"{self.mode} mode (set \"{flag}\": true in its reading part)")
        rows = _results.fetch(self.project, self.reading.name,
                              mode=self.mode, readers=[self.reader])
        for r in rows:
            for rel in (r.get("annotations") or {}).values():
                try:
                    self.project.remove_file(r["psid"], rel)
                except LookupError:
                    pass
        n = _results.delete(self.project, self.reading.name,
                            self.mode, self.reader)
        self.id = uuid.uuid4().hex
        self.seed = secrets.randbits(64)
        psids = list(self.cases["psid"])
        self.items = _cases.items(psids, self.config, self.mode_config,
                                  rng=random.Random(self.seed))
        self._positions = {it: i for i, it in enumerate(self.items)}
        self._started.clear()
        self._refresh()
        return n

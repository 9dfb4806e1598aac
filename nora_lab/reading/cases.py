"""Which cases a reader reads, and in which order.

Cases come from the archive's filter bars (:meth:`Project.studies`). The order is

``none``
    ``viewer.sortOrder`` / ``sortDirection`` (PSID ascending by default);
``idhash``
    sorted by a SHA-256 of ``reading | repetition | PSID``: looks random, but every reader
    gets it in every session (and each repetition its own);
``full``
    a fresh random permutation per reader and session (seeded from the OS).

A reading's *items* are (case, stage, repetition) triples: repetition by repetition;
inside one, stages of a case follow each other (``stage_order="case"``) or every case
is read at stage 1 before any at stage 2 (``"block"``).
"""

from __future__ import annotations

import hashlib
import random as _random
from dataclasses import dataclass

import pandas as pd

from .config import ModeConfig, ReadingConfig

__all__ = ["Item", "select_cases", "order_cases", "items", "idhash"]


@dataclass(frozen=True, order=True)
class Item:
    """One thing to read: a case at a stage in a repetition (0-based)."""

    psid: str
    stage: int = 0
    repetition: int = 0


def select_cases(project, config: ReadingConfig, mode: str) -> pd.DataFrame:  # noqa: ANN001
    """The studies of ``mode``, sorted by ``viewer.sortOrder``/``sortDirection``."""
    mc = config.mode(mode)
    order_by = config.sort_order if config.sort_order in ("psid", "date", "created") else "psid"
    df = project.studies(mc.filters or None, order_by=order_by)
    if config.sort_order not in ("psid", "date", "created"):
        df = df.sort_values([config.sort_order, "psid"], kind="stable")
    if config.sort_direction == "desc":
        df = df.iloc[::-1]
    return df.reset_index(drop=True)


def idhash(reading: str, psid: str, repetition: int = 0) -> str:
    """The sort key of ``idhash`` randomization."""
    return hashlib.sha256(f"{reading}|{repetition}|{psid}".encode()).hexdigest()


def order_cases(psids: list[str], method: str, *, reading: str, repetition: int = 0,
                rng: _random.Random | None = None) -> list[str]:
    """``psids`` (already in sort order) in the order of ``method``."""
    if method == "none":
        return list(psids)
    if method == "idhash":
        return sorted(psids, key=lambda p: idhash(reading, p, repetition))
    out = list(psids)
    (rng or _random.SystemRandom()).shuffle(out)
    return out


def items(psids: list[str], config: ReadingConfig, mode: ModeConfig, *,
          rng: _random.Random | None = None) -> list[Item]:
    """Every item of a mode in reading order (see the module docstring)."""
    out: list[Item] = []
    n_stages = len(config.stages)
    for rep in range(mode.repetitions):
        order = order_cases(psids, mode.random, reading=config.name, repetition=rep, rng=rng)
        if config.stage_order == "block":
            out += [Item(p, s, rep) for s in range(n_stages) for p in order]
        else:
            out += [Item(p, s, rep) for p in order for s in range(n_stages)]
    return out

"""NORA's filter-bar language.

Each column of the subject/study table has a filter bar; one more bar searches files.
In every bar:

* terms separated by spaces are alternatives (OR);
* ``&`` separates groups that must all hold (AND), so ``a b & c`` is ``(a OR b) AND c``;
* every term has an implicit trailing wildcard; ``*`` is any run of characters, ``_`` one
  character; matching is case-insensitive;
* special attributes work in any bar: ``STAG:`` (study tag), ``PTAG:`` (subject tag),
  ``FTAG:`` (file tag), ``JOB:`` (studies with a job in state ``q``ueued, ``r``unning,
  ``e``rror, ``d``one or ``k``illed; several letters mean any of them) and ``SDESC:``
  (study description);
* a value with spaces can be quoted: ``SDESC:"MR Head"``.

In the file-search bar a plain term is a file pattern (``t1_trio*/s0*.nii``), matched
per study: a study qualifies when one of its files matches.

>>> parse("t1_tri*/s0*.nii & STAG:control")
[[Term(kind='pattern', value='t1_tri*/s0*.nii')], [Term(kind='STAG', value='control')]]

Filter strings only become bound parameters, never SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nora_lab.errors import FilterSyntaxError

__all__ = ["Term", "parse", "SPECIALS", "JOB_STATES"]

SPECIALS = ("STAG", "PTAG", "FTAG", "JOB", "SDESC")
#: ``JOB:`` letters: :data:`nora_lab.archive.job_states.STATES` (not imported: the filter
#: parser needs no database)
JOB_STATES = {"q": "queued", "r": "running", "e": "error", "d": "done", "k": "killed"}

_SPECIAL_RE = re.compile(r"^([A-Z]+):(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Term:
    """One term of a filter bar: a plain pattern or a special attribute."""

    kind: str  # "pattern" or one of SPECIALS
    value: str


def _tokens(text: str) -> list[str | None]:
    """Split into terms and ``None`` for each ``&``; honour double quotes."""
    out: list[str | None] = []
    buf: list[str] = []
    quoted = False
    had_quote = False

    def flush() -> None:
        nonlocal had_quote
        if buf or had_quote:
            out.append("".join(buf))
        buf.clear()
        had_quote = False

    for ch in text:
        if ch == '"':
            quoted = not quoted
            had_quote = True
        elif quoted:
            buf.append(ch)
        elif ch.isspace():
            flush()
        elif ch == "&":
            flush()
            out.append(None)
        else:
            buf.append(ch)
    if quoted:
        raise FilterSyntaxError(f"filter {text!r}: unterminated double quote")
    flush()
    return out


def _term(tok: str, text: str) -> Term:
    m = _SPECIAL_RE.match(tok)
    if not m:
        return Term("pattern", tok)
    name, value = m.groups()
    if name not in SPECIALS:
        raise FilterSyntaxError(
            f"filter {text!r}: unknown attribute {name + ':'!r} "
            f"(expected one of {', '.join(s + ':' for s in SPECIALS)})"
        )
    if not value:
        raise FilterSyntaxError(f"filter {text!r}: {name}: needs a value, e.g. {name}:control")
    if name == "JOB":
        bad = sorted(set(value.lower()) - set(JOB_STATES))
        if bad:
            raise FilterSyntaxError(
                f"filter {text!r}: JOB:{value} has unknown state(s) {''.join(bad)!r} "
                "(expected letters of q=queued, r=running, e=error, d=done, k=killed)"
            )
        value = value.lower()
    return Term(name, value)


def parse(text: str | None) -> list[list[Term]]:
    """Parse a filter-bar string into AND-ed groups of OR-ed terms.

    An empty or blank string gives ``[]`` (no condition).

    Raises
    ------
    FilterSyntaxError
        On an empty group (``"a &"``, ``"& b"``, ``"a && b"``), an unterminated quote,
        an unknown ``XXX:`` attribute or a bad ``JOB:`` state.
    """
    if text is None or not text.strip():
        return []
    groups: list[list[Term]] = [[]]
    for tok in _tokens(text):
        if tok is None:
            groups.append([])
        else:
            groups[-1].append(_term(tok, text))
    for i, g in enumerate(groups):
        if not g:
            where = "before the first" if i == 0 else "after an"
            raise FilterSyntaxError(
                f"filter {text!r}: nothing {where} '&' — write terms on both sides, "
                "e.g. 't1*/s0*.nii & STAG:control'"
            )
    return groups

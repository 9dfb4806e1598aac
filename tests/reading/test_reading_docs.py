"""docs/reading-format.md names every form type, order, blind option and configuration key
the code accepts (read from the code, so a key added there must be documented)."""

from pathlib import Path

import pytest

from nora_lab.errors import ConfigError
from nora_lab.reading.config import BLIND_METADATA, KEYS, RANDOM, SORT_ORDERS, ReadingConfig
from nora_lab.reading.forms import ITEM_TYPES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "reading-format.md").read_text()


def _documented(name: str) -> bool:
    return f"`{name}`" in DOC or f'"{name}"' in DOC


def test_every_value_is_documented():
    names = [*ITEM_TYPES, *RANDOM, *SORT_ORDERS, *BLIND_METADATA]
    assert [n for n in names if not _documented(n)] == []


@pytest.mark.parametrize("part", sorted(KEYS))
def test_every_key_the_code_accepts_is_documented(part):
    missing = [k for k in KEYS[part] if not (_documented(k) or _documented(f"{part}.{k}"))]
    assert missing == []


def test_a_key_the_code_does_not_know_is_refused():
    form = {"items": [{"type": "text", "name": "q"}]}
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['randomize'\] in mode_serious"):
        ReadingConfig.from_json("r", {"form": form, "reading": {
            "mode_serious": {"filters": {"files": "x"}, "randomize": "full"}}})
    with pytest.raises(ConfigError, match=r"\['repetition'\] in \"reading\""):
        ReadingConfig.from_json("r", {"form": form, "reading": {
            "mode_serious": {"filters": "x"}, "repetition": 2}})

"""docs/reading-format.md names every form type, order, blind option and config key."""

from pathlib import Path

from nora_lab.reading.config import BLIND_METADATA, RANDOM, SORT_ORDERS
from nora_lab.reading.forms import ITEM_TYPES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "reading-format.md").read_text()
KEYS = ["mode_training", "mode_serious", "filters", "random", "repetitions", "stages",
        "stage_order", "blind.metadata", "blind.results", "joint", "allowRestartOfTraining",
        "allowRestartOfSerious", "instructions", "links", "tools.studytable", "useastag",
        "sortOrder", "sortDirection", "autoloader", "SQLCondition"]


def test_every_setting_is_documented():
    names = [*ITEM_TYPES, *RANDOM, *SORT_ORDERS, *BLIND_METADATA, *KEYS]
    missing = [n for n in names if f"`{n}`" not in DOC and f'"{n}"' not in DOC]
    assert missing == []

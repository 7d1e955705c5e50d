"""Labels in Chinese or English: the dashboard's words from labels.yml, the data's from `_zh` columns."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("zh", "en")
LABELS_FILE = Path(__file__).with_name("labels.yml")


@cache
def labels() -> dict[str, Any]:
    return yaml.safe_load(LABELS_FILE.read_text(encoding="utf-8"))


def label(key: str, language: str, **values: object) -> str:
    """A dashboard label, e.g. label("month", "zh") == "月份"; {placeholders} filled from values."""
    entry = labels()[key]
    return entry[language].format(**values) if values else entry[language]


def nested(group: str, key: str, language: str, default: str | None = None) -> str:
    """A label of a group (severities, stages, units), or the default (the key) when it has none."""
    entry = labels().get(group, {}).get(key)
    return entry[language] if entry else (default if default is not None else key)


def localized(column: str, language: str) -> str:
    """The column holding a name in the language: `kpi_name` -> `kpi_name_zh` in Chinese."""
    return f"{column}_zh" if language == "zh" else column

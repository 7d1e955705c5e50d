"""The quality rules of `config/quality.yml`, loaded once."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from dagster_project.yaml_text import parse_yaml

QUALITY_CONFIG = Path(__file__).parent.parent / "config" / "quality.yml"


@cache
def quality_config() -> dict[str, Any]:
    return parse_yaml(QUALITY_CONFIG.read_text(encoding="utf-8"))


def severity(kind: str) -> str:
    """`error` (blocks publishing) or `warn`, for a kind of check."""
    value = quality_config()["severities"][kind]
    if value not in ("error", "warn"):
        raise ValueError(f"{QUALITY_CONFIG}: severity of {kind!r} must be error or warn, not {value!r}")
    return value

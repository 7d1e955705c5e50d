"""The rules of `config/customer_value.yml`, loaded once."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from dagster_project.yaml_text import parse_yaml

CUSTOMER_VALUE_CONFIG = Path(__file__).parent.parent / "config" / "customer_value.yml"


@cache
def customer_value_config() -> dict[str, Any]:
    return parse_yaml(CUSTOMER_VALUE_CONFIG.read_text(encoding="utf-8"))

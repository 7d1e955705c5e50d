"""The rules of `config/customer_value.yml`, loaded once."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

CUSTOMER_VALUE_CONFIG = Path(__file__).parent.parent / "config" / "customer_value.yml"


@cache
def customer_value_config() -> dict[str, Any]:
    return yaml.safe_load(CUSTOMER_VALUE_CONFIG.read_text(encoding="utf-8"))

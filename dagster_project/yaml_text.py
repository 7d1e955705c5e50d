"""YAML parsing for the project's config, contract and deployment files.

libyaml's C parser when PyYAML has it (the wheels do): the same documents as `yaml.safe_load`, about
ten times faster, and every process reads the contracts and config files (issue 14, start-up).
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """`yaml.safe_load(text)`, through libyaml when available; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_LOADER)  # a safe loader: plain data only

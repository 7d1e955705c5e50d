"""The sample calibration (`sample_company/sample.yml`) with a profile applied."""

from __future__ import annotations

import copy
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml

CONFIG_PATH = Path(__file__).resolve().parent / "sample.yml"


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_sample_config(profile: str = "default", path: Path = CONFIG_PATH) -> dict[str, Any]:
    """The base calibration with the named profile's overrides merged in."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    profiles = doc.pop("profiles", {}) or {}
    if profile not in profiles:
        raise ValueError(f"unknown sample profile {profile!r}; known: {sorted(profiles)}")
    return _merge(doc, profiles[profile] or {})


def probabilities(mapping_or_list: dict | list) -> tuple[list, np.ndarray]:
    """Keys and normalised weights of a {value: weight} mapping (or weights of a list)."""
    if isinstance(mapping_or_list, dict):
        keys = list(mapping_or_list)
        w = np.array([float(mapping_or_list[k]) for k in keys])
    else:
        keys = list(range(len(mapping_or_list)))
        w = np.array([float(x) for x in mapping_or_list])
    return keys, w / w.sum()


class Streams:
    """Independent random streams per named component, fixed by the seed alone.

    Each part of the simulation draws from its own stream, so adding draws in one part does not
    shift the numbers of another.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def __call__(self, name: str, *extra: int) -> np.random.Generator:
        key = zlib.crc32(name.encode("utf-8"))
        return np.random.default_rng([self.seed, key, *[int(e) for e in extra]])

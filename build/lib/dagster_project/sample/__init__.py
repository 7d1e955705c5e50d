"""Deterministic sample data: the extracts of a Chinese B2B industrial-automation company.

`generate(out_dir, scale=..., seed=...)` writes every entity of the raw extract contract as monthly
drops (see `generator.py`); the calibration lives in `dagster_project/config/sample.yml`.
"""

from dagster_project.sample.generator import generate

__all__ = ["generate"]

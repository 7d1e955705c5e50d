"""Deterministic sample data: the extracts of a Chinese B2B industrial-automation company.

`generate(out_dir, scale=..., seed=...)` writes every entity of the raw extract contract as monthly
drops (see `generator.py`); the calibration lives in `sample_company/sample.yml`.
"""

from sample_company.generator import generate

__all__ = ["generate"]

"""Deterministic sample data: the extracts of a Chinese B2B industrial-automation company.

`generate(out_dir, scale=..., seed=...)` writes every entity of the raw extract contract as monthly
drops (see `generator.py`); the calibration lives in `sample_company/sample.yml`.

A package of its own, outside the Dagster code location: `python -m dagster_project generate` (and
`run --sample-if-empty`) imports it inside the command, the tests import it; `dagster_project`
never does (tests/test_definitions.py).
"""

from sample_company.generator import generate

__all__ = ["generate"]

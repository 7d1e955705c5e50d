"""Ingestion: raw extract drops -> typed, deduplicated `raw_<source>` tables, with nothing lost."""

from dagster_project.ingest.load import EntityLoadResult, load_entity

__all__ = ["EntityLoadResult", "load_entity"]

"""The published BI snapshot, read-only: the dashboard's only source of data.

Every query opens the snapshot file read-only, with schema `marts` in use, and closes it; results
are cached per snapshot id, so a new publish shows on the next page load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

DEFAULT_BI_DIR = "data/warehouse/bi"


@dataclass(frozen=True)
class Snapshot:
    database: Path
    snapshot_id: str
    published_at: str
    tables: frozenset[str]

    @classmethod
    def find(cls, bi_dir: Path | None = None) -> Snapshot | None:
        """The snapshot in S2S_BI_DIR (default data/warehouse/bi), or None when none is published."""
        bi_dir = Path(bi_dir or os.environ.get("S2S_BI_DIR") or DEFAULT_BI_DIR)
        manifest, database = bi_dir / "snapshot.json", bi_dir / "marts.duckdb"
        if not (manifest.is_file() and database.is_file()):
            return None
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        return cls(database, meta["snapshot_id"], meta.get("published_at", ""), frozenset(meta.get("tables", {})))

    def has(self, *tables: str) -> bool:
        return all(t in self.tables for t in tables)

    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        return _query(str(self.database), self.snapshot_id, sql, tuple(sorted((params or {}).items())))


@st.cache_data(show_spinner=False, max_entries=256)
def _query(database: str, snapshot_id: str, sql: str, params: tuple) -> pd.DataFrame:
    # snapshot_id is part of the cache key: a new publish is a new snapshot id
    con = duckdb.connect(database, read_only=True)
    try:
        con.execute(f"use {Path(database).stem}.marts")  # the file marts.duckdb is catalog `marts`
        return con.execute(sql, dict(params)).df()
    finally:
        con.close()

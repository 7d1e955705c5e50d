"""The inputs fingerprint that lets a run skip unchanged work: it must move with every input the
marts depend on (drops, code, config, as-of date), and `nothing_new` must only say so when it is
sure. The full skip path through the CLI and Dagster is in test_end_to_end.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity
from dagster_project.publish.fingerprint import code_digest, inputs_fingerprint, nothing_new, pending_drops
from dagster_project.publish.snapshot import SNAPSHOT_FILE
from dagster_project.warehouse import connect

HEADER = list(load_contracts()["erp.fx_rates"].column_names)


def fx_drop(raw_dir: Path, name: str, rate: str) -> None:
    rows = [["2025-01-31", "USD", rate, ""][: len(HEADER)]]
    write_drop(raw_dir, "erp.fx_rates", name, csv_text(HEADER, rows))


def publish_fake_snapshot(bi_dir: Path, fingerprint: str) -> None:
    bi_dir.mkdir(parents=True, exist_ok=True)
    (bi_dir / SNAPSHOT_FILE).write_bytes(b"")
    (bi_dir / "snapshot.json").write_text(json.dumps({"snapshot_id": "S1", "inputs_fingerprint": fingerprint}))


def test_fingerprint_moves_with_drops_and_as_of(con, raw_dir, monkeypatch):
    load_entity(con, load_contracts()["erp.fx_rates"], raw_dir)  # creates the manifest, no drops yet
    empty = inputs_fingerprint(con)
    assert inputs_fingerprint(con) == empty  # stable

    fx_drop(raw_dir, "fx_rates_2025-01-31.csv", "7.10")
    load_entity(con, load_contracts()["erp.fx_rates"], raw_dir)
    one_drop = inputs_fingerprint(con)
    assert one_drop != empty

    monkeypatch.setenv("S2S_AS_OF", "2025-06-30")
    assert inputs_fingerprint(con) not in (empty, one_drop)


def test_code_digest_moves_with_any_model_or_config_file(tmp_path):
    root = tmp_path / "project"
    (root / "dbt" / "models").mkdir(parents=True)
    (root / "dagster_project" / "config").mkdir(parents=True)
    model = root / "dbt" / "models" / "m.sql"
    model.write_text("select 1")
    (root / "dagster_project" / "config" / "quality.yml").write_text("a: 1")
    before = code_digest(root)

    model.write_text("select 2")
    assert code_digest(root) != before
    model.write_text("select 1")
    assert code_digest(root) == before
    (root / "dagster_project" / "config" / "quality.yml").write_text("a: 2")
    assert code_digest(root) != before
    (root / "dbt" / "models" / "notes.txt").write_text("not code")  # ignored suffix
    (root / "dagster_project" / "config" / "quality.yml").write_text("a: 1")
    assert code_digest(root) == before


def test_nothing_new_only_when_no_new_file_and_the_snapshot_matches(tmp_path, con, raw_dir):
    warehouse, bi = tmp_path / "warehouse" / "warehouse.duckdb", tmp_path / "warehouse" / "bi"
    fx_drop(raw_dir, "fx_rates_2025-01-31.csv", "7.10")
    load_entity(con, load_contracts()["erp.fx_rates"], raw_dir)
    fingerprint = inputs_fingerprint(con)
    assert pending_drops(con, raw_dir) == []
    con.close()

    assert nothing_new(warehouse, raw_dir, bi) is None  # no snapshot yet
    publish_fake_snapshot(bi, "another fingerprint")
    assert nothing_new(warehouse, raw_dir, bi) is None  # built from other inputs
    publish_fake_snapshot(bi, fingerprint)
    assert nothing_new(warehouse, raw_dir, bi)["snapshot_id"] == "S1"

    fx_drop(raw_dir, "fx_rates_2025-02-28.csv", "7.20")  # a new file: a run must look at it
    assert nothing_new(warehouse, raw_dir, bi) is None
    assert nothing_new(tmp_path / "missing.duckdb", raw_dir, bi) is None


def test_a_file_copied_again_unchanged_is_hashed_once_and_then_is_no_news(tmp_path, con, raw_dir):
    """A copy without -p or a sync tool gives every file a new modification time: the first load hashes
    it, loads nothing, and keeps its new time, so later runs (and `run`'s pre-check) know it unhashed."""
    warehouse, bi = tmp_path / "warehouse" / "warehouse.duckdb", tmp_path / "warehouse" / "bi"
    fx_drop(raw_dir, "fx_rates_2025-01-31.csv", "7.10")
    contract = load_contracts()["erp.fx_rates"]
    load_entity(con, contract, raw_dir)
    drop = raw_dir / "erp" / "fx_rates" / "fx_rates_2025-01-31.csv"
    new_time = drop.stat().st_mtime_ns + 3_600 * 10**9
    os.utime(drop, ns=(new_time, new_time))  # touched: same bytes, an hour later
    assert pending_drops(con, raw_dir) == ["erp/fx_rates/fx_rates_2025-01-31.csv"]

    result = load_entity(con, contract, raw_dir)
    assert result.outcomes == [] and result.drops_already_loaded == 1  # nothing loaded again
    assert con.execute("select count(*) from raw_erp.fx_rates").fetchall()[0][0] == 1
    assert con.execute("select file_mtime_ns from meta.drop_manifest").fetchall() == [(new_time,)]
    assert pending_drops(con, raw_dir) == []
    fingerprint = inputs_fingerprint(con)
    con.close()
    publish_fake_snapshot(bi, fingerprint)
    assert nothing_new(warehouse, raw_dir, bi)["snapshot_id"] == "S1"

    fx_drop(raw_dir, "fx_rates_2025-01-31.csv", "7.30")  # the same name with new content is news
    con = connect(warehouse)
    assert pending_drops(con, raw_dir) == ["erp/fx_rates/fx_rates_2025-01-31.csv"]
    assert [o.status for o in load_entity(con, contract, raw_dir).outcomes] == ["loaded"]
    con.close()

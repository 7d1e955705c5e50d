"""The asset check `primary_keys_unique` on the raw tables, through the real job: the first check
counts every key; later ones count the keys of the rows loaded since the last passing check, each
against every row; a forced run counts every key again (issue 14: key checks on the new keys).
Ingestion never lets a duplicate in, so the duplicates here are written into the raw table by hand."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.publish.fingerprint import FORCE_TAG

CONTRACTS = load_contracts()
ORPHANS_KEY = dg.AssetKey(["meta", "orphans"])


def account(account_id: str) -> list[str]:
    return [account_id, "甲公司", "制造", "100", "华东", "上海", "上海", "R1", "30", "2025-01-01", "2025-01-02"]


def key_check(force: bool = False) -> dg.AssetCheckEvaluation:
    """The ingestion assets, meta/orphans and its key check, as a scheduled (or forced) run runs them."""
    from dagster_project.definitions import defs

    selected = {*(dg.AssetKey([c.schema, c.entity]) for c in CONTRACTS.values()), ORPHANS_KEY}
    check = dg.AssetCheckKey(ORPHANS_KEY, "primary_keys_unique")
    job = defs.resolve_job_def("refresh_warehouse").get_subset(asset_selection=selected, asset_check_selection={check})
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, tags={FORCE_TAG: "true"} if force else None
    )
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "primary_keys_unique"]
    return evaluation


def duplicate_account(warehouse: Path, account_id: str, loaded_at: str | None = None) -> None:
    """A second row of an account already loaded, as a broken ingestion would leave it, stamped
    `loaded_at` (by default: the time through which the last passing check found the keys unique)."""
    with duckdb.connect(str(warehouse)) as con:
        if loaded_at is None:
            (loaded_at,) = con.execute(
                "select checked_through::varchar from meta.raw_key_checks where entity = 'crm.accounts'"
            ).fetchone()
        con.execute(
            f"insert into {CONTRACTS['crm.accounts'].table} by name "
            "select * replace (?::timestamp as _loaded_at, 'by hand' as _drop_id) from raw_crm.accounts "
            "where account_id = ? limit 1",
            [loaded_at, account_id],
        )


def test_new_rows_keys_are_checked_against_every_row_and_a_forced_run_checks_them_all(raw_dir, tmp_path):
    warehouse = tmp_path / "warehouse" / "warehouse.duckdb"
    header = list(CONTRACTS["crm.accounts"].column_names)
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(header, [account("A1"), account("A2")]))
    first = key_check()
    assert first.passed and first.description == "all keys unique"  # no passing check before: every key

    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-28.csv", csv_text(header, [account("A3")]))
    second = key_check()
    assert second.passed
    assert second.description == "all keys unique (new rows' keys of 1 of 20 tables, checked against every row)"

    # a duplicate loaded before the last passing check is not looked at again, nor one stamped with
    # the newest load time that check saw (every row of that time was there when it passed) ...
    duplicate_account(warehouse, "A1", "2000-01-01 00:00:00")
    duplicate_account(warehouse, "A3")
    assert key_check().passed
    # ... but a forced run counts every key
    forced = key_check(force=True)
    assert not forced.passed and forced.description == "crm.accounts: 2 duplicate or empty keys"

    # a new row repeating an old key is caught through the window: its key is counted over every row
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from raw_crm.accounts where _drop_id = 'by hand'")
    assert key_check(force=True).passed
    duplicate_account(warehouse, "A2", "2100-01-01 00:00:00")
    windowed = key_check()
    assert not windowed.passed and windowed.description == "crm.accounts: 1 duplicate or empty keys"
    # a failing check records nothing: the next run still counts the new row's key
    assert not key_check().passed

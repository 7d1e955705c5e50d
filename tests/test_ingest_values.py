"""Values that are not what they claim (issue 9, item 7 and the currency spellings of item 2):
dates outside a plausible range and decimals that would be rounded are quarantined; the common
spellings of a currency are stored as its ISO code."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity

OPPORTUNITIES = load_contracts()["crm.opportunities"]
HEADER = list(OPPORTUNITIES.column_names)


def opp(opportunity_id, amount="1000.00", currency="CNY", close_date="2026-03-31", updated_at="2026-02-01 09:00:00"):
    return [
        opportunity_id,
        "A1",
        "R1",
        "",
        "new_business",
        "PL1",
        amount,
        currency,
        "2026-01-05 10:00:00",
        close_date,
        "proposal",
        "false",
        "false",
        "",
        updated_at,
    ]


def test_dates_outside_the_plausible_range_are_quarantined(con, raw_dir, monkeypatch):
    # as-of 2026-11-30: plausible from 1990-01-01 (config) to 2028-11-30 (as-of + 2 years)
    monkeypatch.setenv("S2S_AS_OF", "2026-11-30")
    rows = [
        opp("O1"),  # line 2
        opp("O2", close_date="infinity"),  # line 3
        opp("O3", close_date="epoch"),  # line 4: 1970-01-01
        opp("O4", close_date="99999-01-01"),  # line 5
        opp("O5", updated_at="infinity"),  # line 6: a row that could never be updated again
        opp("O6", close_date="1989-12-31"),  # line 7: a day before the range
        opp("O7", close_date="1990-01-01"),  # line 8: first day of the range
        opp("O8", close_date="2028-11-30"),  # line 9: last day of the range
        opp("O9", close_date="2028-12-01"),  # line 10: a day after
        opp("O10", updated_at="-infinity"),  # line 11
    ]
    write_drop(raw_dir, "crm.opportunities", "opportunities_2026-11-30.csv", csv_text(HEADER, rows))

    load_entity(con, OPPORTUNITIES, raw_dir)

    assert con.execute("select opportunity_id from raw_crm.opportunities order by 1").fetchall() == [
        ("O1",),
        ("O7",),
        ("O8",),
    ]
    window = "outside the plausible range 1990-01-01 .. 2028-11-30 (ingest.plausible_dates)"
    assert con.execute("select line, column_name, value, reason from meta.quarantine order by line").fetchall() == [
        (3, "close_date", "infinity", f"close_date: {window}"),
        (4, "close_date", "epoch", f"close_date: {window}"),
        (5, "close_date", "99999-01-01", f"close_date: {window}"),
        (6, "updated_at", "infinity", f"updated_at: {window}"),
        (7, "close_date", "1989-12-31", f"close_date: {window}"),
        (10, "close_date", "2028-12-01", f"close_date: {window}"),
        (11, "updated_at", "-infinity", f"updated_at: {window}"),
    ]


def test_without_as_of_the_range_ends_two_years_after_today(con, raw_dir):
    today = date.today()
    inside = date(today.year + 2, today.month, min(today.day, 28)) if (today.month, today.day) != (2, 29) else today
    rows = [opp("O1", close_date=inside.isoformat()), opp("O2", close_date=f"{today.year + 3}-01-01")]
    write_drop(raw_dir, "crm.opportunities", "opportunities_2026-11-30.csv", csv_text(HEADER, rows))

    load_entity(con, OPPORTUNITIES, raw_dir)

    assert con.execute("select opportunity_id from raw_crm.opportunities").fetchall() == [("O1",)]
    assert con.execute("select line, column_name from meta.quarantine").fetchall() == [(3, "close_date")]


def test_decimals_with_more_digits_than_the_scale_are_quarantined_not_rounded(con, raw_dir):
    rows = [
        opp("O1", amount="1000.5"),  # line 2: fits decimal(18,2)
        opp("O2", amount="1e-7"),  # line 3: would be 0.00
        opp("O3", amount="1000.005"),  # line 4: would be 1000.01
        opp("O4", amount="12.500"),  # line 5: trailing zeros lose nothing
        opp("O5", amount="1.5e3"),  # line 6: 1500.00 exactly
        opp("O6", amount="-0.001"),  # line 7: would be 0.00
    ]
    write_drop(raw_dir, "crm.opportunities", "opportunities_2026-11-30.csv", csv_text(HEADER, rows))

    load_entity(con, OPPORTUNITIES, raw_dir)

    assert con.execute("select opportunity_id, amount from raw_crm.opportunities order by 1").fetchall() == [
        ("O1", Decimal("1000.50")),
        ("O4", Decimal("12.50")),
        ("O5", Decimal("1500.00")),
    ]
    reason = "amount: more decimal places than decimal(18,2) keeps (2): it would be rounded"
    assert con.execute("select line, value, reason from meta.quarantine order by line").fetchall() == [
        (3, "1e-7", reason),
        (4, "1000.005", reason),
        (7, "-0.001", reason),
    ]


def test_whole_numbers_with_a_fraction_are_quarantined_not_rounded(con, raw_dir):
    accounts = load_contracts()["crm.accounts"]
    rows = [
        [f"A{i}", "甲公司", "制造", employees, "华东", "上海", "上海", "R1", "30", "2025-01-01", "2025-01-02"]
        for i, employees in enumerate(["120", "1.5", "2.0", "1e-7", "1.2e3"])  # lines 2-6
    ]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(list(accounts.column_names), rows))

    load_entity(con, accounts, raw_dir)

    assert con.execute("select account_id, employee_count from raw_crm.accounts order by 1").fetchall() == [
        ("A0", 120),
        ("A2", 2),
        ("A4", 1200),
    ]
    reason = "employee_count: more decimal places than bigint keeps (0): it would be rounded"
    assert con.execute("select line, value, reason from meta.quarantine order by line").fetchall() == [
        (3, "1.5", reason),
        (5, "1e-7", reason),
    ]


def test_common_currency_spellings_are_stored_as_iso_codes(con, raw_dir):
    spellings = [
        "RMB",
        "人民币",
        "cny",
        " Cny ",
        "US$",
        "usd",
        "美元",
        "HK$",
        "港币",
        "欧元",
        "eur",
        "JPY",
        "",
        "Dollars",
    ]
    rows = [opp(f"O{i:02d}", currency=c) for i, c in enumerate(spellings)]
    write_drop(raw_dir, "crm.opportunities", "opportunities_2026-11-30.csv", csv_text(HEADER, rows))

    load_entity(con, OPPORTUNITIES, raw_dir)

    stored = con.execute("select currency from raw_crm.opportunities order by opportunity_id").fetchall()
    assert [c for (c,) in stored] == [
        "CNY",
        "CNY",
        "CNY",
        "CNY",
        "USD",
        "USD",
        "USD",
        "HKD",
        "HKD",
        "EUR",
        "EUR",
        "JPY",
        "CNY",  # empty: the contract's default
        "DOLLARS",  # unknown spellings are case-folded and left for the FX check to name
    ]


def test_fx_rate_currencies_are_normalised_too(con, raw_dir):
    write_drop(
        raw_dir,
        "erp.fx_rates",
        "fx_rates_2026-11-30.csv",
        "rate_date,currency,cny_per_unit\n2026-11-30,usd,7.1\n2026-11-30,港币,0.91\n",
    )

    load_entity(con, load_contracts()["erp.fx_rates"], raw_dir)

    assert con.execute("select rate_date, currency from raw_erp.fx_rates order by 2").fetchall() == [
        (date(2026, 11, 30), "HKD"),
        (date(2026, 11, 30), "USD"),
    ]


def test_timestamps_at_the_range_edges(con, raw_dir, monkeypatch):
    monkeypatch.setenv("S2S_AS_OF", "2026-11-30")
    rows = [opp("O1", updated_at="1990-01-01 00:00:00"), opp("O2", updated_at="2028-11-30 23:59:59")]
    write_drop(raw_dir, "crm.opportunities", "opportunities_2026-11-30.csv", csv_text(HEADER, rows))

    load_entity(con, OPPORTUNITIES, raw_dir)

    assert con.execute("select opportunity_id, updated_at from raw_crm.opportunities order by 1").fetchall() == [
        ("O1", datetime(1990, 1, 1, 0, 0)),
        ("O2", datetime(2028, 11, 30, 23, 59, 59)),
    ]


def test_timestamp_spellings_are_stored_as_shanghai_local_time(con, raw_dir, monkeypatch):
    # The common spelling is read as it stands (issue 14's fast path); every other spelling goes
    # through the time zone: an offset or Z is converted to Shanghai time (UTC+8), by hand below.
    monkeypatch.setenv("S2S_AS_OF", "2026-11-30")
    spellings = {
        "O1": "2026-02-01 09:00:00",  # as it stands
        "O2": "2026-02-01T09:00:00",  # T: the same time
        "O3": "2026-02-01 09:00:00Z",  # UTC 09:00 = 17:00 in Shanghai
        "O4": "2026-02-01T01:30:00+00:00",  # UTC 01:30 = 09:30
        "O5": "2026-02-01 09:00:00-05:00",  # UTC 14:00 = 22:00
        "O6": "2026-02-01 09:00:00.250",  # fractions kept
        "O7": "2026-02-01",  # a date alone: midnight
        "O8": "2026-02-01 9:00:00",  # one-digit hour, 18 characters: read through the time zone
        "O9": "2026-02-01 25:00:00",  # 19 characters, not a time: quarantined
        "O10": "2026-02-01 09:00:0x",  # 19 characters, not a time: quarantined
    }
    rows = [opp(key, updated_at=value) for key, value in spellings.items()]
    write_drop(raw_dir, "crm.opportunities", "opportunities_2026-11-30.csv", csv_text(HEADER, rows))

    load_entity(con, OPPORTUNITIES, raw_dir)

    assert dict(con.execute("select opportunity_id, updated_at from raw_crm.opportunities").fetchall()) == {
        "O1": datetime(2026, 2, 1, 9, 0),
        "O2": datetime(2026, 2, 1, 9, 0),
        "O3": datetime(2026, 2, 1, 17, 0),
        "O4": datetime(2026, 2, 1, 9, 30),
        "O5": datetime(2026, 2, 1, 22, 0),
        "O6": datetime(2026, 2, 1, 9, 0, 0, 250000),
        "O7": datetime(2026, 2, 1, 0, 0),
        "O8": datetime(2026, 2, 1, 9, 0),
    }
    assert con.execute(
        "select value, reason from meta.quarantine where entity = 'opportunities' order by value"
    ).fetchall() == [
        ("2026-02-01 09:00:0x", "updated_at: cannot read the value as timestamp"),
        ("2026-02-01 25:00:00", "updated_at: cannot read the value as timestamp"),
    ]


def test_the_warehouse_time_zone_is_declared_once_in_config_and_read_from_there(tmp_path, monkeypatch) -> None:
    """config/warehouse.yml's time_zone is the session zone of every warehouse connection, the zone
    dbt's profile reads (S2S_TIME_ZONE, exported by the settings) and the default of a mapping; no
    Python module spells a zone name itself."""
    import io
    import os
    import tokenize
    from pathlib import Path

    from dagster_project.mapping.spec import parse_mapping
    from dagster_project.settings import Settings
    from dagster_project.warehouse import TIME_ZONE, connect, warehouse_config

    configured = warehouse_config("duckdb")["time_zone"]
    assert TIME_ZONE == configured == "Asia/Shanghai"
    deals = {"pattern": ["deals*"], "entity": "crm.opportunities", "columns": {"opportunity_id": "id"}}
    no_zone = parse_mapping({"folder": "mycrm", "files": {"deals": deals}}, "mycrm", None, ValueError)
    assert no_zone.timezone == configured  # a mapping that names no zone reads the warehouse's
    con = connect(tmp_path / "w.duckdb")
    assert con.execute("select current_setting('TimeZone')").fetchone()[0] == configured
    con.close()
    for name in ("RAW_DIR", "WAREHOUSE", "BI_DIR", "DEPLOYMENT_DIR", "DUCKDB_MEMORY_LIMIT", "DUCKDB_THREADS"):
        monkeypatch.setenv(f"S2S_{name}", os.environ.get(f"S2S_{name}", ""))  # restored after the test
    monkeypatch.setenv("S2S_TIME_ZONE", "UTC")
    Settings(raw_dir=tmp_path / "raw", warehouse=tmp_path / "w.duckdb", bi_dir=tmp_path / "bi", as_of=None).export()
    assert os.environ["S2S_TIME_ZONE"] == configured
    repo = Path(__file__).resolve().parents[1]
    assert "TimeZone: \"{{ env_var('S2S_TIME_ZONE'" in (repo / "dbt" / "profiles.yml").read_text(encoding="utf-8")
    spelled = []
    for module in sorted((repo / "dagster_project").rglob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(module.read_text(encoding="utf-8")).readline)
        for token in tokens:
            quoted = token.string == f'"{configured}"' or f"'{configured}'" in token.string
            if token.type == tokenize.STRING and quoted:
                spelled.append(f"{module.relative_to(repo)}:{token.start[0]}")
    assert spelled == []


def test_the_checked_select_types_each_value_once_and_keeps_every_column_in_place() -> None:
    """checked_select on a tiny drop (values worked out by hand): a header spelled in other case, an
    extra column, a column the file lacks (its default), an empty value, one unreadable and one
    out-of-range timestamp, a value not allowed. Each column is typed once and every check reads it."""
    import duckdb

    from dagster_project.ingest.validate import checked_select

    contract = load_contracts()["crm.opportunities"]
    con = duckdb.connect()
    con.execute(
        """create table _drop_raw as select * from (values
            (2, ' O-1 ', 'renewal', ' 12.50 ', '2026-02-01 09:00:00', 'a note'),
            (3, 'O-2', 'gift', '', 'not a time', null),
            (4, '', 'upsell', '1.005', '1899-12-31 23:59:59', 'x')
        ) as t (_line, "Opportunity_ID", opportunity_type, amount, updated_at, "Remarks")"""
    )
    header = ["Opportunity_ID", "opportunity_type", "amount", "updated_at", "Remarks"]
    rows = con.execute(
        f"select _line, opportunity_id, opportunity_type, amount::varchar, currency, updated_at, account_id, "
        f'"Remarks", list_transform(_problems, lambda p: p.column_name) from ({checked_select(contract, header)}) '
        "order by _line"
    ).fetchall()
    assert rows == [
        (2, "O-1", "renewal", "12.50", "CNY", datetime(2026, 2, 1, 9), None, "a note", []),
        (3, "O-2", "gift", None, "CNY", None, None, None, ["opportunity_type", "updated_at"]),
        (4, None, "upsell", "1.01", "CNY", datetime(1899, 12, 31, 23, 59, 59), None, "x",
         ["opportunity_id", "amount", "updated_at"]),
    ]  # fmt: skip
    columns = [r[0] for r in con.execute(f"describe {checked_select(contract, header)}").fetchall()]
    assert columns == ["_line", *(c.name for c in contract.columns), "Remarks", "_problems"]

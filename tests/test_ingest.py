"""Ingestion on hand-made drops: every bad-input kind of the spec, with counts worked out by hand."""

from __future__ import annotations

import gzip
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity
from dagster_project.ingest.integrity import refresh_orphans

OPP_HEADER = list(load_contracts()["crm.opportunities"].column_names)
# the accounts columns a CRM export carries (payment_terms_days is optional and left out here)
ACCOUNT_HEADER = [c for c in load_contracts()["crm.accounts"].column_names if c != "payment_terms_days"]


def opp(
    opportunity_id,
    amount="1000.00",
    close_date="2025-03-31",
    stage="proposal",
    is_won="false",
    updated_at="2025-02-01 09:00:00",
    account_id="A1",
):
    return [
        opportunity_id,
        account_id,
        "R1",
        "",
        "new_business",
        "PL1",
        amount,
        "CNY",
        "2025-01-05 10:00:00",
        close_date,
        stage,
        "false",
        is_won,
        "",
        updated_at,
    ]


def load(con, entity: str, raw_dir: Path, batch_bytes: int | None = None):
    return load_entity(con, load_contracts()[entity], raw_dir, batch_bytes=batch_bytes)


def audit(con) -> list[tuple]:
    return con.execute(
        "select source_file, rows_read, rows_loaded, rows_quarantined, status, rejected_reason "
        "from meta.ingest_audit order by source_file"
    ).fetchall()


def test_each_bad_value_kind_is_quarantined_with_file_line_and_column(con, raw_dir):
    rows = [
        opp("O1"),  # line 2: good
        opp("O2"),  # line 3: good
        opp("O3", amount="12,3x"),  # line 4: unparseable number
        opp("O4", close_date="2025-02-30"),  # line 5: impossible date
        opp("O5", stage="won"),  # line 6: outside the allowed set
        opp(""),  # line 7: empty key
        opp("O1", amount="999.00"),  # line 8: duplicate of line 2
        opp("O6", is_won="maybe"),  # line 10 below: unreadable boolean
    ]
    text = csv_text(OPP_HEADER, rows[:7])
    text += (
        "O7,A1,R1,,new_business,PL1,5.00,CNY,2025-01-05,2025-03-31,proposal,false,false,,2025-02-01,EXTRA\n"  # line 9
    )
    text += csv_text(OPP_HEADER, rows[7:]).split("\n", 1)[1]
    write_drop(raw_dir, "crm.opportunities", "opportunities_2025-02-28.csv", text)

    result = load(con, "crm.opportunities", raw_dir)

    assert audit(con) == [("crm/opportunities/opportunities_2025-02-28.csv", 9, 2, 7, "loaded", None)]
    assert result.table_rows == 2
    assert con.execute("select opportunity_id, amount from raw_crm.opportunities order by 1").fetchall() == [
        ("O1", Decimal("1000.00")),
        ("O2", Decimal("1000.00")),
    ]
    quarantined = con.execute(
        "select source_file, line, column_name, value, reason from meta.quarantine order by line"
    ).fetchall()
    f = "crm/opportunities/opportunities_2025-02-28.csv"
    assert [q[:4] for q in quarantined] == [
        (f, 4, "amount", "12,3x"),
        (f, 5, "close_date", "2025-02-30"),
        (f, 6, "stage", "won"),
        (f, 7, "opportunity_id", None),
        (f, 8, "opportunity_id", "O1"),
        (f, 9, None, None),
        (f, 10, "is_won", "maybe"),
    ]
    reasons = [q[4] for q in quarantined]
    assert reasons[0] == "amount: cannot read the value as decimal(18,2)"
    assert reasons[2].startswith("stage: not one of qualification, needs_analysis")
    assert reasons[3] == "opportunity_id: empty, but the key needs a value"
    assert reasons[4] == "duplicate key (opportunity_id) in the drop: line 2 kept"
    assert "TOO MANY COLUMNS" in reasons[5]
    # nothing is lost: the quarantined row is kept as read
    raw = con.execute("select raw_record from meta.quarantine where line = 4").fetchall()[0][0]
    assert '"amount":"12,3x"' in raw


def test_missing_required_column_rejects_only_that_file(con, raw_dir):
    header = [c for c in OPP_HEADER if c != "stage"]
    bad_rows = [[v for c, v in zip(OPP_HEADER, opp("O9"), strict=True) if c != "stage"]]
    write_drop(raw_dir, "crm.opportunities", "opportunities_2025-01-31.csv", csv_text(header, bad_rows))
    write_drop(raw_dir, "crm.opportunities", "opportunities_2025-02-28.csv", csv_text(OPP_HEADER, [opp("O1")]))

    result = load(con, "crm.opportunities", raw_dir)

    assert audit(con) == [
        ("crm/opportunities/opportunities_2025-01-31.csv", 0, 0, 0, "rejected", "missing required column(s) stage"),
        ("crm/opportunities/opportunities_2025-02-28.csv", 1, 1, 0, "loaded", None),
    ]
    assert result.metadata()["rejected_files"] == (
        "crm/opportunities/opportunities_2025-01-31.csv: missing required column(s) stage"
    )
    # a rejected file stays rejected on the next run (no duplicate audit row) until it changes
    load(con, "crm.opportunities", raw_dir)
    assert len(audit(con)) == 2


def test_unparseable_files_are_rejected_and_the_run_goes_on(con, raw_dir):
    write_drop(raw_dir, "crm.opportunities", "opportunities_2025-01-01.csv", "")
    folder = raw_dir / "crm" / "opportunities"
    (folder / "opportunities_2025-01-02.parquet").write_bytes(b"this is not parquet")
    write_drop(raw_dir, "crm.opportunities", "opportunities_2025-01-03.csv", csv_text(OPP_HEADER, [opp("O1")]))

    load(con, "crm.opportunities", raw_dir)

    rows = audit(con)
    assert [(r[0].rsplit("/", 1)[1], r[4]) for r in rows] == [
        ("opportunities_2025-01-01.csv", "rejected"),
        ("opportunities_2025-01-02.parquet", "rejected"),
        ("opportunities_2025-01-03.csv", "loaded"),
    ]
    assert rows[0][5] == "empty file: no header row"
    assert rows[1][5].startswith("not a readable Parquet file")


def test_extra_columns_are_kept_and_reported_and_currency_defaults(con, raw_dir):
    header = [c for c in OPP_HEADER if c != "currency"] + ["Deal_Source"]
    row = [v for c, v in zip(OPP_HEADER, opp("O1"), strict=True) if c != "currency"] + ["展会"]
    write_drop(raw_dir, "crm.opportunities", "opportunities_2025-01-31.csv", csv_text(header, [row]))

    load(con, "crm.opportunities", raw_dir)

    assert con.execute('select currency, "Deal_Source" from raw_crm.opportunities').fetchall() == [("CNY", "展会")]
    assert con.execute("select extra_columns from meta.ingest_audit").fetchall() == [(["Deal_Source"],)]


def account_row(account_id: str) -> list[str]:
    return [account_id, "甲公司", "制造", "100", "华东", "上海", "上海", "R1", "2025-01-01", "2025-01-01"]


def orphans(con) -> set[tuple]:
    rows = con.execute("select entity, key_value, foreign_key, fk_value from meta.orphans").fetchall()
    return {r for r in rows if r[2] == "account_id"}  # the owner reps are not delivered here


def test_the_orphan_share_leaves_out_keys_to_an_entity_the_company_does_not_deliver(con, raw_dir):
    """2 of 3 opportunities point at an account not in the accounts table: 2/3 orphaned. A company
    that does not deliver accounts at all would see every such key as an orphan, so a key pointing
    at an entity the policy says is not delivered is left out of the shares."""
    from dagster_project.quality.integrity import orphan_shares

    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(ACCOUNT_HEADER, [account_row("A1")]))
    write_drop(
        raw_dir,
        "crm.opportunities",
        "opportunities_2025-01-31.csv",
        csv_text(OPP_HEADER, [opp("O1"), opp("O2", account_id="A404"), opp("O3", account_id="A405")]),
    )
    load(con, "crm.accounts", raw_dir)
    load(con, "crm.opportunities", raw_dir)
    refresh_orphans(con, [load_contracts()[e] for e in ("crm.accounts", "crm.opportunities")])

    shares = {(entity, fk): (n, total) for entity, fk, n, total, _ in orphan_shares(con)}
    assert shares[("crm.opportunities", "account_id")] == (2, 3)
    without_accounts = orphan_shares(con, delivered=lambda entity: entity != "crm.accounts")
    assert ("crm.opportunities", "account_id") not in {(entity, fk) for entity, fk, *_ in without_accounts}


def test_orphans_are_loaded_and_listed_and_the_list_follows_new_drops(con, raw_dir):
    """Orphans load; `meta.orphans` lists them once every entity is loaded and, later, re-checks only
    what new drops can change: a parent that arrives, a row reloaded with another key, new rows.
    Expected lists worked out by hand; the whole check (`full=True`) agrees at every step."""
    contracts = [load_contracts()[e] for e in ("crm.accounts", "crm.opportunities")]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(ACCOUNT_HEADER, [account_row("A1")]))
    write_drop(
        raw_dir,
        "crm.opportunities",
        "opportunities_2025-01-31.csv",
        csv_text(OPP_HEADER, [opp("O1"), opp("O2", account_id="A404"), opp("O3", account_id="A404")]),
    )
    load(con, "crm.accounts", raw_dir)
    assert load(con, "crm.opportunities", raw_dir).table_rows == 3  # orphans are loaded
    expected = {("opportunities", "O2", "account_id", "A404"), ("opportunities", "O3", "account_id", "A404")}
    refresh_orphans(con, contracts)
    assert orphans(con) == expected

    # the parent arrives; O1 moves to an account that does not exist; O4 is new and fine, O5 is not
    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-28.csv", csv_text(ACCOUNT_HEADER, [account_row("A404")]))
    later = "2025-02-15 09:00:00"
    write_drop(
        raw_dir,
        "crm.opportunities",
        "opportunities_2025-02-28.csv",
        csv_text(
            OPP_HEADER,
            [opp("O1", account_id="A999", updated_at=later), opp("O4"), opp("O5", account_id="A777")],
        ),
    )
    load(con, "crm.accounts", raw_dir)
    load(con, "crm.opportunities", raw_dir)
    refresh_orphans(con, contracts)
    expected = {("opportunities", "O1", "account_id", "A999"), ("opportunities", "O5", "account_id", "A777")}
    assert orphans(con) == expected
    checked = con.execute("select count(distinct drop_id) from meta.orphans_checked where entity = 'opportunities'")
    assert checked.fetchall()[0][0] == 2  # both drops' rows are recorded as checked: the second run was incremental
    refresh_orphans(con, contracts, full=True)
    assert orphans(con) == expected

    # O1 comes back to A1: its orphan goes
    write_drop(
        raw_dir,
        "crm.opportunities",
        "opportunities_2025-03-31.csv",
        csv_text(OPP_HEADER, [opp("O1", account_id="A1", updated_at="2025-03-01 09:00:00")]),
    )
    load(con, "crm.opportunities", raw_dir)
    refresh_orphans(con, contracts)
    assert orphans(con) == {("opportunities", "O5", "account_id", "A777")}

    # the rows are looked for among those loaded after the newest load time the last check saw: an
    # orphan written by hand with that time (as no ingestion stamps one) is not seen; a full check sees it
    (through,) = con.execute(
        "select loaded_through from meta.orphans_checked_through where entity = 'opportunities'"
    ).fetchone()
    assert through == con.execute("select max(_loaded_at) from raw_crm.opportunities").fetchone()[0]
    con.execute(
        "insert into raw_crm.opportunities by name select * replace "
        "('O6' as opportunity_id, 'A888' as account_id, 'by hand' as _drop_id) from raw_crm.opportunities "
        "where _loaded_at = ?",
        [through],
    )
    refresh_orphans(con, contracts)
    assert orphans(con) == {("opportunities", "O5", "account_id", "A777")}
    refresh_orphans(con, contracts, full=True)
    assert orphans(con) == {
        ("opportunities", "O5", "account_id", "A777"),
        ("opportunities", "O6", "account_id", "A888"),
    }


GBK_ROWS = [
    ["A1", "杭州星辰科技有限公司", "软件", "1200", "华东", "浙江", "杭州", "R1", "2025-01-01", "2025-01-02"],
    ["A2", "广州南粤贸易有限公司", "零售", "80", "华南", "广东", "广州", "R2", "2025-01-01", "2025-01-02"],
]


@pytest.mark.parametrize(
    ("name", "encoding", "prefix"),
    [
        ("accounts_2025-01-31.csv", "gbk", b""),  # detected
        ("accounts_2025-01-31.gbk.csv", "gbk", b""),  # declared in the name
        ("accounts_2025-01-31.csv", "utf-8", b"\xef\xbb\xbf"),  # UTF-8 with BOM
    ],
)
def test_gbk_and_bom_files_load_without_mojibake(con, raw_dir, name, encoding, prefix):
    header = ACCOUNT_HEADER
    path = write_drop(raw_dir, "crm.accounts", name, csv_text(header, GBK_ROWS), encoding=encoding)
    path.write_bytes(prefix + path.read_bytes())

    load(con, "crm.accounts", raw_dir)

    assert con.execute("select account_name, city from raw_crm.accounts order by account_id").fetchall() == [
        ("杭州星辰科技有限公司", "杭州"),
        ("广州南粤贸易有限公司", "广州"),
    ]
    expected = "gb18030" if encoding == "gbk" else "utf-8"
    assert con.execute("select encoding, rows_loaded from meta.ingest_audit").fetchall() == [(expected, 2)]


def test_parquet_xlsx_and_gzip_drops(con, raw_dir, tmp_path):
    from openpyxl import Workbook

    folder = raw_dir / "erp" / "fx_rates"
    folder.mkdir(parents=True)
    with gzip.open(folder / "fx_rates_2025-01-31.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("rate_date,currency,cny_per_unit\n2025-01-31,USD,7.1800\n")
    duckdb.connect().execute(
        f"copy (select date '2025-02-28' as rate_date, 'USD' as currency, 7.2 as cny_per_unit) "
        f"to '{folder / 'fx_rates_2025-02-28.parquet'}' (format parquet)"
    )
    book = Workbook()
    sheet = book.active
    sheet.append(["rate_date", "currency", "cny_per_unit"])
    sheet.append([datetime(2025, 3, 31), "HKD", 0.92])
    sheet.append([None, None, None])
    sheet.append(["2025-03-31", "EUR", "not a number"])
    book.save(folder / "fx_rates_2025-03-31.xlsx")

    load(con, "erp.fx_rates", raw_dir)

    assert con.execute("select rate_date, currency, cny_per_unit from raw_erp.fx_rates order by 1").fetchall() == [
        (date(2025, 1, 31), "USD", Decimal("7.180000")),
        (date(2025, 2, 28), "USD", Decimal("7.200000")),
        (date(2025, 3, 31), "HKD", Decimal("0.920000")),
    ]
    assert con.execute("select line, column_name from meta.quarantine").fetchall() == [
        (4, "cny_per_unit")
    ]  # sheet row 4
    assert [r[1:4] for r in audit(con)] == [(1, 1, 0), (1, 1, 0), (2, 1, 1)]


def test_a_parquet_rows_line_is_its_place_in_the_file_across_row_groups(con, raw_dir):
    """Lines come from DuckDB's file_row_number, or from row_number() when the file has a column of
    that name: the same numbers either way, counted from 1, across row groups read by two threads."""
    folder = raw_dir / "erp" / "fx_rates"
    folder.mkdir(parents=True)
    con.execute("set threads = 2")
    rows = "select date '2000-01-01' + i::integer as rate_date, 'USD' as currency, "
    bad = "case when i = {i} then 'not a number' else '7.1' end as cny_per_unit"
    # 5,000 rows in row groups of 1,000; the 3,500th row (i = 3499) holds the bad value
    duckdb.connect().execute(
        f"copy ({rows}{bad.format(i=3499)} from range(5000) t(i)) "
        f"to '{folder / 'fx_rates_2025-01-31.parquet'}' (format parquet, row_group_size 1000)"
    )
    # a file with a column named as DuckDB's option (an extra column, loaded as nothing): rows 2 and
    # 4,001 of 4,500 are bad; its dates follow the first file's, so no key is repeated
    duckdb.connect().execute(
        f"copy (select rate_date + 5000 as rate_date, currency, "
        f"case when i in (1, 4000) then 'x' else cny_per_unit end as cny_per_unit, 'n' || i as File_Row_Number "
        f"from ({rows}{bad.format(i=-1)}, i from range(4500) t(i))) "
        f"to '{folder / 'fx_rates_2025-02-28.parquet'}' (format parquet, row_group_size 1000)"
    )

    load(con, "erp.fx_rates", raw_dir)

    assert con.execute(
        "select regexp_extract(source_file, '[0-9-]+\\.parquet'), line, column_name, value from meta.quarantine "
        "order by 1, 2"
    ).fetchall() == [
        ("2025-01-31.parquet", 3500, "cny_per_unit", "not a number"),
        ("2025-02-28.parquet", 2, "cny_per_unit", "x"),
        ("2025-02-28.parquet", 4001, "cny_per_unit", "x"),
    ]
    assert [r[1:4] for r in audit(con)] == [(5000, 4999, 1), (4500, 4498, 2)]
    assert con.execute("select count(*) from raw_erp.fx_rates").fetchone() == (9497,)


def test_redelivered_drop_is_a_noop(con, raw_dir):
    text = csv_text(OPP_HEADER, [opp("O1"), opp("O2")])
    write_drop(raw_dir, "crm.opportunities", "opportunities_2025-01-31.csv", text)
    load(con, "crm.opportunities", raw_dir)
    before = con.execute("select * from raw_crm.opportunities order by 1").fetchall()

    write_drop(raw_dir, "crm.opportunities", "opportunities_2025-02-28_resent.csv", text)
    result = load(con, "crm.opportunities", raw_dir)

    assert result.drops_already_loaded == 2 and result.outcomes == []
    assert con.execute("select * from raw_crm.opportunities order by 1").fetchall() == before
    # the re-delivered file loads nothing; the audit records it as a duplicate (zero rows)
    assert [(r[0].rsplit("/", 1)[1], r[1], r[4]) for r in audit(con)] == [
        ("opportunities_2025-01-31.csv", 2, "loaded"),
        ("opportunities_2025-02-28_resent.csv", 0, "duplicate"),
    ]


# 1 byte: every drop is a batch of its own (one transaction each); None: both drops in one batch.
@pytest.mark.parametrize("batch_bytes", [1, None], ids=["drop_by_drop", "one_batch"])
def test_newest_updated_at_wins_then_newest_drop(con, raw_dir, batch_bytes):
    write_drop(
        raw_dir,
        "crm.opportunities",
        "opportunities_2025-01-31.csv",
        csv_text(
            OPP_HEADER,
            [
                opp("O1", stage="qualification", updated_at="2025-01-10 09:00:00"),
                opp("O2", stage="qualification", updated_at="2025-01-10 09:00:00"),
                opp("O3", stage="qualification", updated_at="2025-01-20 09:00:00"),
            ],
        ),
    )
    write_drop(
        raw_dir,
        "crm.opportunities",
        "opportunities_2025-02-28.csv",
        csv_text(
            OPP_HEADER,
            [
                opp("O1", stage="proposal", updated_at="2025-02-10 09:00:00"),  # newer: replaces
                opp("O2", stage="negotiation", updated_at="2025-01-10 09:00:00"),  # tie: newer drop wins
                opp("O3", stage="closed_lost", updated_at="2025-01-15 09:00:00"),  # older: superseded
                opp("O4", stage="proposal"),  # new key
            ],
        ),
    )

    result = load(con, "crm.opportunities", raw_dir, batch_bytes)

    assert con.execute("select opportunity_id, stage from raw_crm.opportunities order by 1").fetchall() == [
        ("O1", "proposal"),
        ("O2", "negotiation"),
        ("O3", "qualification"),
        ("O4", "proposal"),
    ]
    assert (result.total("rows_inserted"), result.total("rows_updated"), result.total("rows_superseded")) == (4, 2, 1)
    # per drop, as if applied one by one: the first drop inserts 3; the second inserts O4, updates O1
    # and O2, and is superseded on O3
    assert [(o.rows_inserted, o.rows_updated, o.rows_superseded) for o in result.outcomes] == [(3, 0, 0), (1, 2, 1)]
    # a late older drop loaded afterwards does not override newer versions
    write_drop(
        raw_dir,
        "crm.opportunities",
        "opportunities_2024-12-31.csv",
        csv_text(
            OPP_HEADER,
            [
                opp("O2", stage="closed_won", updated_at="2025-01-10 09:00:00"),
            ],
        ),
    )
    load(con, "crm.opportunities", raw_dir)
    assert con.execute("select stage from raw_crm.opportunities where opportunity_id = 'O2'").fetchall() == [
        ("negotiation",)
    ]


def test_timestamps_are_shanghai_local_time(con, raw_dir):
    write_drop(
        raw_dir,
        "crm.opportunities",
        "opportunities_2025-01-31.csv",
        csv_text(
            OPP_HEADER,
            [
                opp("O1", updated_at="2025-02-01 09:00:00"),
                opp("O2", updated_at="2025-02-01T01:00:00Z"),
                opp("O3", updated_at="2025-02-01T10:00:00+09:00"),
            ],
        ),
    )
    load(con, "crm.opportunities", raw_dir)
    assert con.execute("select distinct updated_at from raw_crm.opportunities").fetchall() == [
        (datetime(2025, 2, 1, 9, 0),)
    ]


SAMPLE_VALUES = {
    "varchar": "X1",
    "bigint": "3",
    "double": "0.5",
    "boolean": "true",
    "date": "2025-01-31",
    "timestamp": "2025-01-31 08:00:00",
}


def test_every_entity_loads_a_valid_row(con, raw_dir):
    contracts = load_contracts()
    for contract in contracts.values():
        row = []
        for column in contract.columns:
            value = SAMPLE_VALUES.get(column.type, "12.50")
            if column.allowed_values:
                value = column.allowed_values[0]
            if column.name == "period":
                value = "2025-Q1"
            row.append(value)
        write_drop(
            raw_dir, contract.name, f"{contract.entity}_2025-01-31.csv", csv_text(list(contract.column_names), [row])
        )
    for contract in contracts.values():
        result = load_entity(con, contract, raw_dir)
        assert (result.table_rows, result.total("rows_quarantined")) == (1, 0), contract.name
    totals = con.execute("select count(*), sum(rows_read), sum(rows_loaded) from meta.ingest_audit").fetchall()
    assert totals == [(20, 20, 20)]


# 1 byte: every drop is a batch of its own; None: the two drops in one batch.
@pytest.mark.parametrize("batch_bytes", [1, None], ids=["drop_by_drop", "one_batch"])
def test_each_batch_is_heard_of_once_with_its_drops_and_each_drop_once(con, raw_dir, batch_bytes):
    """The ingest step logs one message per batch (`on_batch`); the CLI prints one line per drop (`on_drop`)."""
    write_drop(raw_dir, "crm.opportunities", "opportunities_2025-01-31.csv", csv_text(OPP_HEADER, [opp("O1")]))
    write_drop(raw_dir, "crm.opportunities", "opportunities_2025-02-28.csv", csv_text(OPP_HEADER, [opp("O2")]))
    batches, drops = [], []
    load_entity(
        con,
        load_contracts()["crm.opportunities"],
        raw_dir,
        batch_bytes=batch_bytes,
        on_batch=lambda outcomes: batches.append([o.drop.relative_path.rsplit("/", 1)[1] for o in outcomes]),
        on_drop=lambda o: drops.append(o.drop.relative_path.rsplit("/", 1)[1]),
    )
    names = ["opportunities_2025-01-31.csv", "opportunities_2025-02-28.csv"]
    assert batches == ([[n] for n in names] if batch_bytes == 1 else [names])
    assert drops == names

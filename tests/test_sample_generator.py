"""The sample generator: determinism, the contract's layout, calibration against the strategy figures,
and the accounting of injected defects. Every figure is recomputed here from the written files."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import openpyxl
import pytest

from dagster_project.contracts import load_contracts
from sample_company import generate

END = date(2026, 10, 31)
LAST = (END - timedelta(days=364), END)  # the last 365 days
PREV = (END - timedelta(days=729), END - timedelta(days=365))
ONLINE = ("baidu_sem", "douyin", "xiaohongshu", "wechat", "email", "website")
DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tiny")
    return out, generate(out, scale=0.05, seed=7, end_date=END)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, dict, duckdb.DuckDBPyConnection]:
    out = tmp_path_factory.mktemp("calibrated")
    summary = generate(out, scale=0.1, seed=7, end_date=END)
    con = duckdb.connect()
    _views(con, out, summary)
    yield out, summary, con
    con.close()


# ---- reading the drops back ---------------------------------------------------------------------------

KEYS = {
    "sales_reps": ("rep_id", "updated_at"),
    "accounts": ("account_id", "updated_at"),
    "contacts": ("contact_id", "updated_at"),
    "leads": ("lead_id", "updated_at"),
    "opportunities": ("opportunity_id", "updated_at"),
    "opportunity_stage_history": ("opportunity_id, stage, entered_at", None),
    "activities": ("activity_id", None),
    "cases": ("case_id", None),
    "products": ("sku", "updated_at"),
    "sales_orders": ("order_id", "updated_at"),
    "sales_order_lines": ("order_id, line_no", None),
    "payments": ("payment_id", None),
    "returns": ("return_id", None),
    "fx_rates": ("rate_date, currency", None),
    "ad_spend_daily": ("spend_date, campaign_id", None),
    "web_events": ("event_id", None),
    "survey_responses": ("response_id", None),
}


def _views(con: duckdb.DuckDBPyConnection, root: Path, summary: dict) -> None:
    """A view per entity over its drops (all text, malformed rows skipped) and a table `<entity>_cur`, the
    newest version of each key (newest updated_at, then newest drop)."""
    gbk = summary["gbk_file"]
    for source_entity in summary["entities"]:
        entity = source_entity.split("/")[1]
        if entity not in KEYS:
            continue
        files = [str(p) for p in sorted((root / source_entity).iterdir()) if p.relative_to(root).as_posix() != gbk]
        if files[0].endswith(".parquet"):
            read = f"read_parquet({files!r}, filename = true)"
        else:
            read = (
                f"read_csv({files!r}, all_varchar = true, header = true, delim = ',', quote = '\"', "
                "ignore_errors = true, union_by_name = true, filename = true)"
            )
        drop = "regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})')"
        con.execute(f"create view {entity} as select *, {drop} as _drop from {read}")
        key, updated = KEYS[entity]
        order = f"try_cast({updated} as timestamp) desc nulls last, _drop desc" if updated else "_drop desc"
        con.execute(
            f"create table {entity}_cur as select * exclude (_rn) from (select *, row_number() over "
            f"(partition by {key} order by {order}) as _rn from {entity}) where _rn = 1"
        )
    con.execute(
        """create view line_cny as
        select o.order_id, o.account_id, o.region, try_cast(o.order_date as date) as d, l.sku,
               try_cast(l.line_amount as double) * coalesce(try_cast(f.cny_per_unit as double), 1) as cny
        from sales_order_lines_cur l
        join sales_orders_cur o using (order_id)
        left join fx_rates_cur f on f.rate_date = o.order_date and f.currency = o.currency and o.currency <> 'CNY'
        where o.status is distinct from 'cancelled'"""
    )
    con.execute(
        """create view return_cny as
        select try_cast(r.returned_at as timestamp)::date as d, o.region,
               try_cast(r.amount as double) * coalesce(try_cast(f.cny_per_unit as double), 1) as cny
        from returns_cur r
        join sales_orders_cur o using (order_id)
        left join fx_rates_cur f on try_cast(f.rate_date as date) = try_cast(r.returned_at as timestamp)::date
             and f.currency = o.currency and o.currency <> 'CNY'"""
    )


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    return con.execute(sql).fetchone()[0]


def _between(column: str, window: tuple[date, date]) -> str:
    return f"{column} between date '{window[0]}' and date '{window[1]}'"


def _net_revenue(con: duckdb.DuckDBPyConnection, window: tuple[date, date]) -> float:
    sold = _one(con, f"select sum(cny) from line_cny where {_between('d', window)}")
    returned = _one(con, f"select coalesce(sum(cny), 0) from return_cny where {_between('d', window)}")
    return sold - returned


def _read_text(path: Path, encoding: str) -> str:
    raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return raw.decode("gb18030" if encoding == "gbk" else "utf-8-sig")


def _header(path: Path, encoding: str) -> list[str]:
    if path.suffix == ".parquet":
        return [r[0] for r in duckdb.execute(f"describe select * from read_parquet('{path}')").fetchall()]
    if path.suffix == ".xlsx":
        return list(next(openpyxl.load_workbook(path, read_only=True).worksheets[0].values))
    return next(csv.reader(io.StringIO(_read_text(path, encoding))))


# ---- determinism and layout ------------------------------------------------------------------------------


def test_same_inputs_write_the_same_bytes_and_replace_old_output(tiny, tmp_path):
    first, _ = tiny
    again = tmp_path / "again"
    stale = again / "crm" / "accounts" / "accounts_1999-01-31.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("account_id\nAC1\n", encoding="utf-8")
    (again / ".gitkeep").write_text("", encoding="utf-8")
    generate(again, scale=0.05, seed=7, end_date=END)
    assert not stale.exists()
    assert (again / ".gitkeep").exists()
    assert {k: v for k, v in _hashes(again).items() if k != ".gitkeep"} == _hashes(first)


CHECKSUMS = Path(__file__).parent / "fixtures" / "sample_checksums.sha256"


def test_the_bytes_match_the_committed_checksums(tiny):
    """Refactoring the generator must not change one byte of its output. The list was written with
    `python -m dagster_project generate --scale 0.05 --seed 7 --out <dir>` and `sha256sum` over every
    file (sorted paths); a deliberate change of the sample (or of numpy's streams) rewrites it."""
    out, _ = tiny
    expected = dict(line.split("  ", 1)[::-1] for line in CHECKSUMS.read_text(encoding="utf-8").splitlines())
    assert _hashes(out) == expected


def test_another_seed_gives_other_data(tiny, tmp_path):
    first, _ = tiny
    generate(tmp_path, scale=0.05, seed=8, end_date=END)
    a, b = _hashes(first), _hashes(tmp_path)
    common = set(a) & set(b)
    assert sum(a[k] != b[k] for k in common) > 0.9 * len(common)


def test_every_entity_is_written_as_dated_drops_with_the_contract_header(tiny):
    root, summary = tiny
    drop_dates = summary["drop_dates"]
    assert len(drop_dates) == 36 and drop_dates[-1] == END.isoformat()
    for contract in load_contracts().values():
        name = f"{contract.source}/{contract.entity}"
        files = summary["entities"][name]["files"]
        assert files, name
        for rel, info in files.items():
            path = root / rel
            assert path.name.startswith(f"{contract.entity}_")
            assert DATE_IN_NAME.search(path.name).group(1) in drop_dates
            # the contract's columns in order; an optional column the sample never produces
            # (targets.rep_id: the sample sets region targets only) is left out, as a company may
            header = _header(path, info["encoding"])
            assert header == [c.name for c in contract.columns if c.name in header], rel
            assert {c.name for c in contract.columns if c.required} <= set(header), rel
    # (leads follow the month's won deals: at scale 0.05 a month may have none, so they are not here)
    for name in ("crm/activities", "crm/opportunities", "erp/sales_orders", "marketing/web_events"):
        assert len(summary["entities"][name]["files"]) == 36, name
    formats = {info["format"] for e in summary["entities"].values() for info in e["files"].values()}
    assert formats == {"csv", "csv.gz", "parquet", "xlsx"}
    assert any(info["bom"] for e in summary["entities"].values() for info in e["files"].values())


def test_exactly_one_drop_is_gbk_encoded(tiny):
    root, summary = tiny
    gbk = [rel for e in summary["entities"].values() for rel, info in e["files"].items() if info["encoding"] == "gbk"]
    assert gbk == [summary["gbk_file"]]
    raw = (root / summary["gbk_file"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    assert re.search(r"[\u4e00-\u9fff]", text)


def test_the_summary_counts_every_defect_found_in_the_files(tiny):
    root, summary = tiny
    contracts = load_contracts()
    keys: dict[str, set[str]] = {}

    def keys_of(entity: str) -> set[str]:  # primary keys of a referenced single-key entity, over all drops
        if entity not in keys:
            c = contracts[entity]
            found = set()
            for rel, info in summary["entities"][f"{c.source}/{c.entity}"]["files"].items():
                for row in csv.DictReader(io.StringIO(_read_text(root / rel, info["encoding"]))):
                    found.add(row[c.primary_key[0]])
            keys[entity] = found
        return keys[entity]

    totals = {"duplicate_rows": 0, "orphan_fks": 0, "malformed": 0, "missing": 0}
    for name, entity in summary["entities"].items():
        contract = contracts[name.replace("/", ".")]
        columns = list(contract.column_names)
        critical = [columns.index(c.name) for c in contract.critical_columns]
        for rel, info in entity["files"].items():
            d = info["defects"]
            path = root / rel
            if info["format"] == "parquet":
                rows, distinct = duckdb.execute(
                    f"select count(*), (select count(*) from (select distinct * from read_parquet('{path}'))) "
                    f"from read_parquet('{path}')"
                ).fetchone()
                assert rows == info["rows"] and rows - distinct == d["duplicate_rows"], rel
                continue
            if info["format"] == "xlsx":
                continue
            lines = _read_text(path, info["encoding"]).splitlines()[1:]
            assert len(lines) == info["rows"], rel
            assert len(lines) - len(set(lines)) == d["duplicate_rows"], rel
            for line_no in d["duplicate_lines"]:
                assert lines[line_no - 2] in lines[: line_no - 2], rel
            parsed = list(csv.reader(lines))
            malformed_lines = {m["line"] for m in d["malformed"]}
            missing: dict[str, int] = {}
            for i, fields in enumerate(parsed, start=2):
                if i in malformed_lines:
                    continue
                assert len(fields) == len(columns), (rel, i)
                for ci in critical:
                    if fields[ci] == "":
                        missing[columns[ci]] = missing.get(columns[ci], 0) + 1
            assert missing == d["missing_critical"], rel
            for m in d["malformed"]:
                fields = parsed[m["line"] - 2]
                if m["kind"] == "extra_field":
                    assert len(fields) == len(columns) + 1
                    continue
                value = fields[columns.index(m["column"])]
                assert value == m["value"]
                if m["kind"] == "impossible_date":
                    with pytest.raises(ValueError):
                        date.fromisoformat(value[:10])
                elif m["kind"] == "unparseable_number":
                    with pytest.raises(ValueError):
                        float(value)
                else:
                    assert value not in contract.column(m["column"]).allowed_values
            for o in d["orphan_fks"]:
                value = parsed[o["line"] - 2][columns.index(o["column"])]
                assert value == o["value"]
                assert value not in keys_of(o["references"])
            totals["duplicate_rows"] += d["duplicate_rows"]
            totals["orphan_fks"] += len(d["orphan_fks"])
            totals["malformed"] += len(d["malformed"])
            totals["missing"] += sum(d["missing_critical"].values())
    assert summary["defects_unplaced"] == []
    assert totals["orphan_fks"] >= 5 and totals["malformed"] >= 8 and totals["duplicate_rows"] > 0
    assert totals["orphan_fks"] == summary["defects_total"]["orphan_fks"]
    assert totals["malformed"] == sum(summary["defects_total"]["malformed_rows"].values())
    assert totals["missing"] == summary["defects_total"]["missing_critical_cells"]
    assert json.loads((root / "_generation.json").read_text(encoding="utf-8")) == summary


# ---- calibration at scale 0.1 ---------------------------------------------------------------------------


def test_sales_team(calibrated):
    _, _, con = calibrated
    assert _one(con, "select count(*) from sales_reps_cur where left_on is null") == pytest.approx(16, abs=1)
    assert _one(con, "select count(distinct region) from sales_reps_cur") == 4
    assert _one(con, "select count(*) from sales_reps_cur where role = 'rep' and manager_id is null") == 0


def test_revenue_growth_and_regions(calibrated):
    _, _, con = calibrated
    last, prev = _net_revenue(con, LAST), _net_revenue(con, PREV)
    assert last == pytest.approx(190e6, rel=0.15)
    assert last / prev - 1 == pytest.approx(0.08, abs=0.04)
    east_south = _one(
        con,
        f"select sum(cny) filter (where region in ('华东', '华南')) / sum(cny) "
        f"from line_cny where {_between('d', LAST)}",
    )
    assert east_south == pytest.approx(0.85, abs=0.05)


def test_customer_base(calibrated):
    _, _, con = calibrated
    per_customer = (
        f"select account_id, sum(cny) as spend, count(distinct order_id) as orders "
        f"from line_cny where {_between('d', LAST)} group by 1"
    )
    active = _one(con, f"select count(*) from ({per_customer})")
    assert active == pytest.approx(286, rel=0.03)
    top = _one(con, f"select count(*) from ({per_customer}) where spend > 1e7")
    top_share = _one(con, f"select sum(spend) filter (where spend > 1e7) / sum(spend) from ({per_customer})")
    assert 2 <= top <= 6 and top_share == pytest.approx(0.38, abs=0.10)
    small = _one(con, f"select avg((spend < 1e5)::int) from ({per_customer})")
    assert small == pytest.approx(0.85, abs=0.04)
    repurchase = _one(con, f"select avg((orders >= 2)::int) from ({per_customer})")
    assert repurchase == pytest.approx(0.42, abs=0.07)
    churn = _one(
        con,
        f"""select 1 - count(*) filter (where account_id in
                (select account_id from line_cny where {_between("d", LAST)})) / count(*)
            from (select distinct account_id from line_cny where {_between("d", PREV)})""",
    )
    assert churn == pytest.approx(0.15, abs=0.05)


def test_products_and_orders(calibrated):
    _, _, con = calibrated
    new_share = _one(
        con,
        f"""select sum(l.cny) filter (where p.is_new_product = 'true') / sum(l.cny)
            from line_cny l join products_cur p using (sku) where {_between("l.d", LAST)}""",
    )
    assert new_share == pytest.approx(0.20, abs=0.05)
    processing = _one(
        con,
        f"""select avg(epoch(try_cast(shipped_at as timestamp) - try_cast(submitted_at as timestamp)) / 86400)
            from sales_orders_cur where status = 'shipped' and {_between("try_cast(order_date as date)", LAST)}""",
    )
    assert processing == pytest.approx(5.0, abs=1.5)
    bad_amounts = _one(
        con,
        """select count(*) from sales_order_lines_cur
           where abs(try_cast(quantity as bigint) * try_cast(unit_price as double)
                     * (1 - try_cast(discount_rate as double)) - try_cast(line_amount as double)) > 0.011""",
    )
    assert bad_amounts == 0
    statuses = dict(con.execute("select status, count(*) from sales_orders_cur group by 1").fetchall())
    assert statuses["shipped"] > 0.9 * sum(statuses.values())
    assert {"cancelled", "approved"} <= set(statuses)
    currencies = {r[0] for r in con.execute("select distinct currency from sales_orders_cur").fetchall()}
    assert {"CNY", "USD", "HKD"} <= currencies
    high_returns = _one(
        con,
        """select count(*) from (
             select l.sku from sales_order_lines_cur l
             left join (select order_id, line_no, sum(try_cast(amount as double)) as back
                        from returns_cur group by 1, 2) r using (order_id, line_no)
             group by 1 having sum(coalesce(r.back, 0)) / sum(try_cast(l.line_amount as double)) > 0.05)""",
    )
    assert high_returns >= 1


def test_pipeline(calibrated):
    _, _, con = calibrated
    matured = (END - timedelta(days=729), END - timedelta(days=180))
    lead_to_deal = _one(
        con,
        f"""select avg(coalesce(o.is_won = 'true', false)::int) from leads_cur l
            left join opportunities_cur o on o.opportunity_id = l.converted_opportunity_id
            where {_between("try_cast(l.created_at as timestamp)::date", matured)}""",
    )
    assert lead_to_deal == pytest.approx(0.08, abs=0.02)
    cycle = _one(
        con,
        f"""select avg(try_cast(close_date as date) - try_cast(created_at as timestamp)::date) from opportunities_cur
            where is_won = 'true' and {_between("try_cast(close_date as date)", LAST)}""",
    )
    assert cycle == pytest.approx(65, abs=10)
    assert _one(con, "select count(*) from opportunities_cur where is_closed = 'false'") > 0
    # Won deals that skipped a stage: fewer than the five stages qualification .. closed_won.
    skipped = _one(
        con,
        """select count(*) from (select opportunity_id from opportunity_stage_history_cur
           group by 1 having count(*) filter (where stage = 'closed_won') = 1 and count(*) < 5)""",
    )
    assert skipped > 0


def test_marketing_and_field_work(calibrated):
    _, _, con = calibrated
    online = ", ".join(f"'{c}'" for c in ONLINE)
    spend = _one(
        con,
        f"select sum(try_cast(spend as double)) from ad_spend_daily_cur "
        f"where channel in ({online}) and {_between('try_cast(spend_date as date)', LAST)}",
    )
    leads = _one(
        con,
        f"select count(*) from leads_cur where channel in ({online}) "
        f"and {_between('try_cast(created_at as timestamp)::date', LAST)}",
    )
    assert spend / leads == pytest.approx(380, rel=0.25)
    touches = _one(
        con,
        f"""select count(*) filter (where is_effective = 'true')
                   / count(distinct (rep_id, try_cast(occurred_at as timestamp)::date))
                     filter (where rep_id is not null)
            from activities_cur where {_between("try_cast(occurred_at as timestamp)::date", LAST)}""",
    )
    assert touches == pytest.approx(8, abs=1.5)
    nps = _one(
        con,
        "select 100 * (avg((score::int >= 9)::int) - avg((score::int <= 6)::int)) from survey_responses_cur "
        "where survey_type = 'nps'",
    )
    assert 15 <= nps <= 45
    # Converted leads show buying behaviour more often than the others (lead scoring has signal).
    pricing = dict(
        con.execute(
            """select l.converted_opportunity_id is not null, avg((p.viewer is not null)::int)
               from leads_cur l
               left join (select distinct lead_id as viewer from web_events where event_type = 'pricing_page_view') p
                 on p.viewer = l.lead_id
               group by 1"""
        ).fetchall()
    )
    assert pricing[True] > 2 * pricing[False]


CRM_CRITICAL = [
    (c.entity, col.name) for c in load_contracts().values() if c.source == "crm" for col in c.critical_columns
]


def _completeness(con: duckdb.DuckDBPyConnection) -> tuple[float, dict[str, float]]:
    cells = complete = 0
    per_field = {}
    for entity in sorted({e for e, _ in CRM_CRITICAL}):
        columns = [c for e, c in CRM_CRITICAL if e == entity]
        counts = con.execute(
            f"select count(*), {', '.join(f'count({c})' for c in columns)} from {entity}_cur"
        ).fetchone()
        n = counts[0]
        for column, k in zip(columns, counts[1:], strict=True):
            cells, complete = cells + n, complete + k
            if n >= 300:
                per_field[f"{entity}.{column}"] = k / n
    return complete / cells, per_field


def test_crm_completeness_default_profile(calibrated):
    _, _, con = calibrated
    overall, per_field = _completeness(con)
    assert 0.95 <= overall <= 0.99
    assert all(0.94 <= v <= 0.995 for v in per_field.values()), per_field


def test_crm_completeness_baseline_profile(tmp_path):
    summary = generate(tmp_path, scale=0.05, seed=7, end_date=END, profile="baseline")
    con = duckdb.connect()
    _views(con, tmp_path, summary)
    overall, per_field = _completeness(con)
    assert overall < 0.60
    assert max(per_field.values()) < 0.60

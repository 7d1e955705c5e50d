"""The pandas peer of the benchmark (bench/pandas_peer.py): it must agree with the marts it is
compared with (rfm_customer, the opportunity funnel) on the same messy raw drops, and compute RFM
right on a hand-made fixture whose scores were worked out by hand (ties included)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sample_company import generate

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PYTHON = sys.executable
DBT = str(Path(sys.executable).with_name("dbt"))
# The sources that +rfm_customer +funnel read (dbt ls --resource-type source): loading only these keeps
# the module fast.
ENTITIES = [
    "crm.accounts",
    "crm.leads",
    "crm.opportunities",
    "crm.opportunity_stage_history",
    "erp.fx_rates",
    "erp.products",
    "erp.returns",
    "erp.sales_order_lines",
    "erp.sales_orders",
    "marketing.web_events",
]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


peer = _module("pandas_peer")
compare_peer = _module("compare_peer")


def _run(cmd: list[str], env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (result.stdout[-4000:], result.stderr[-4000:])
    return result


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("bench_peer")
    raw, warehouse = base / "raw", base / "warehouse.duckdb"
    summary = generate(raw, scale=0.05, seed=3)
    end = summary["end_date"]
    env = {
        "S2S_RAW_DIR": str(raw),
        "S2S_WAREHOUSE": str(warehouse),
        "S2S_AS_OF": end,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    entity_args = [a for e in ENTITIES for a in ("--entity", e)]
    _run([PYTHON, "-m", "dagster_project", "ingest", *entity_args], env)
    # Cautious indirect selection: only tests whose parents are all built (the eager default also runs
    # relationship tests to dim_* models outside the selection, which then fail for a missing table).
    _run(
        [
            DBT,
            "build",
            "--project-dir",
            "dbt",
            "--profiles-dir",
            "dbt",
            "--select",
            "+rfm_customer",
            "+funnel",
            "--indirect-selection",
            "cautious",
            "--target-path",
            str(base / "target"),
            "--log-path",
            str(base / "logs"),
        ],
        env,
        timeout=600,
    )
    out = base / "peer.json"
    _run([PYTHON, str(BENCH / "pandas_peer.py"), str(raw), "--as-of", end, "--out", str(out)], {})
    return {"base": base, "raw": raw, "warehouse": warehouse, "peer_json": out, "as_of": end, "summary": summary}


def test_peer_agrees_with_the_marts_on_the_sample(site):
    report = compare_peer.compare(site["peer_json"], site["warehouse"])
    assert report["agree"], json.dumps(report, ensure_ascii=False, indent=1, default=str)[:6000]
    assert report["rfm"]["customers"] > 50
    assert report["funnel"]["steps"] == 5


def test_the_sample_carries_the_mess_the_peer_must_handle(site):
    """Guard: the agreement above is only worth something if the drops really are messy."""
    totals = site["summary"]["defects_total"]
    assert totals["duplicate_rows"] > 0 and totals["malformed_rows"]
    assert site["summary"]["gbk_file"]


def test_compare_reports_a_disagreement(site, tmp_path):
    doctored = json.loads(site["peer_json"].read_text(encoding="utf-8"))
    doctored["rfm"][0]["frequency"] += 1
    doctored["rfm"][1]["monetary"] = str(float(doctored["rfm"][1]["monetary"]) + 0.05)
    doctored["funnel"][0]["reached_count"] += 1
    path = tmp_path / "doctored.json"
    path.write_text(json.dumps(doctored), encoding="utf-8")
    report = compare_peer.compare(path, site["warehouse"])
    assert not report["agree"]
    assert report["rfm"]["mismatches"] == 2
    assert report["funnel"]["mismatches"] == 1


# ---------------------------------------------------------------------------------- hand-made fixture
ORDER_HEADER = (
    "order_id,account_id,opportunity_id,rep_id,channel,region,order_date,submitted_at,approved_at,"
    "shipped_at,status,currency,updated_at"
)
LINE_HEADER = "order_id,line_no,sku,quantity,unit_price,discount_rate,line_amount"


def _order(oid, acct, day, status, currency, updated):
    return f"{oid},{acct},,R1,direct,华东,{day},,,,{status},{currency},{updated}"


def _write(path: Path, lines: list[str], encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


@pytest.fixture
def hand_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    orders, lines = raw / "erp" / "sales_orders", raw / "erp" / "sales_order_lines"
    _write(
        orders / "sales_orders_2025-06-15.csv",
        [
            ORDER_HEADER,
            _order("A1", "A", "2025-05-01", "shipped", "CNY", "2025-05-02 10:00:00"),
            _order("A2", "A", "2025-06-20", "shipped", "", "2025-06-21 10:00:00"),  # empty currency = CNY
            _order("C1", "C", "2025-01-01", "cancelled", "USD", "2025-06-01 10:00:00"),  # superseded below
            _order("C2", "C", "2025-06-29", "cancelled", "CNY", "2025-06-29 10:00:00"),
            _order("D1", "D", "2024-07-01", "shipped", "CNY", "2024-07-02 10:00:00"),
            _order("D2", "D", "2024-07-02", "cancelled", "CNY", "2024-07-03 10:00:00"),  # tie below: newer drop wins
            _order("D3", "D", "2024-06-30", "shipped", "CNY", "2024-07-01 10:00:00"),  # outside the window
        ],
    )
    _write(
        orders / "sales_orders_2025-06-30.csv",
        [  # a GBK drop
            ORDER_HEADER,
            _order("A3", "A", "2025-06-30", "shipped", "CNY", "2025-06-30 18:00:00"),
            _order("B1", "B", "2025-06-29", "approved", "CNY", "2025-06-29 12:00:00"),
            # 09:30 at UTC-2 is 19:30 in Shanghai: newer than the cancelled version of the first drop.
            _order("C1", "C", "2025-01-01", "shipped", "USD", "2025-06-01T09:30:00-02:00"),
            _order("D2", "D", "2024-07-02", "shipped", "CNY", "2024-07-03 10:00:00"),
            _order("B9", "B", "2025-06-28", "已发货", "CNY", "2025-06-28 10:00:00"),  # status not allowed: dropped
            _order("B8", "B", "2025-06-27", "shipped", "CNY", "2025-06-27 10:00:00") + ",备注",  # extra field: dropped
        ],
        encoding="gbk",
    )
    _write(
        lines / "sales_order_lines_2025-06-15.csv",
        [
            LINE_HEADER,
            "A1,1,S1,1,100.00,0,100.00",
            "A2,1,S1,2,100.00,0,200.00",
            "A2,1,S1,2,100.00,0,200.00",  # exact duplicate
            "C1,1,S1,1,50.00,0,50.00",
            "C2,1,S1,1,999.00,0,999.00",
            "D1,1,S1,1,10.00,0,10.00",
            "D2,1,S1,1,20.00,0,20.00",
            "D3,1,S1,1,500.00,0,500.00",
            "B1,1,S1,1,300.00,0,999.99",  # re-delivered in the newer drop with the right amount
        ],
    )
    _write(
        lines / "sales_order_lines_2025-06-30.csv",
        [
            LINE_HEADER,
            "A3,1,S1,1,100.00,0,100.00",
            'A3,2,S1,1,5.00,0,"12,3x"',  # unparseable amount: dropped
            "B1,1,S1,1,300.00,0,300.00",
            "B1,2,S2,1,150.00,0,150.00",
            "B9,1,S1,1,700.00,0,700.00",  # its order was dropped
            "B8,1,S1,1,700.00,0,700.00",
        ],
    )
    _write(
        raw / "erp" / "returns" / "returns_2025-06-30.csv",
        [
            "return_id,order_id,line_no,sku,quantity,amount,returned_at,reason",
            "R1,B1,,S2,1,50.00,2025-06-30 09:00:00,质量问题",  # no line_no: the order's first S2 line
        ],
    )
    _write(
        raw / "erp" / "fx_rates" / "fx_rates_2025-06-30.csv",
        [
            "\ufeffrate_date,currency,cny_per_unit",  # with a BOM
            "2024-12-31,USD,7.000000",
            "2025-01-02,USD,7.500000",
        ],
    )
    history = raw / "crm" / "opportunity_stage_history"
    opportunity = "{},A,R1,,new_business,L,100.00,CNY,{},2025-09-01,{},{},{},,{}".format
    _write(
        raw / "crm" / "opportunities" / "opportunities_2025-06-30.csv",
        [
            "opportunity_id,account_id,owner_rep_id,lead_id,opportunity_type,product_line,amount,currency,created_at,"
            "close_date,stage,is_closed,is_won,loss_reason,updated_at",
            opportunity("P1", "2025-01-01 10:00:00", "closed_won", "true", "true", "2025-03-01 10:00:00"),
            opportunity("P2", "2025-02-01 10:00:00", "closed_lost", "true", "false", "2025-04-01 10:00:00"),
            opportunity("P3", "2025-03-01 10:00:00", "proposal", "false", "false", "2025-05-01 10:00:00"),
            opportunity("P4", "2025-07-15 10:00:00", "qualification", "false", "false", "2025-07-15"),  # date only
        ],
    )
    _write(
        history / "opportunity_stage_history_2025-06-30.csv",
        [
            "opportunity_id,stage,entered_at",
            "P1,qualification,2025-01-01 10:00:00",
            "P1,proposal,2025-02-01 10:00:00",  # skipped needs_analysis: still reached it
            "P1,closed_won,2025-03-01 10:00:00",
            "P2,qualification,2025-02-01 10:00:00",
            "P2,needs_analysis,2025-03-01 10:00:00",
            "P2,closed_lost,2025-04-01 10:00:00",
            "P3,qualification,2025-03-01 10:00:00",  # current stage proposal is not in the history
        ],
    )
    return raw


def test_peer_rfm_on_a_hand_made_fixture(hand_raw: Path):
    result = peer.run(hand_raw, None)
    assert result["as_of"] == "2025-06-30"  # the newest order date
    got = {r["account_id"]: r for r in result["rfm"]}
    # recency 0 / 1 / 180 / 363 days -> cume_dist .25 .5 .75 1 -> r = 6 - ceil(5 x cd) = 4 3 2 1;
    # frequency 3 / 1 / 1 / 2 -> B and C tie at cd .5 (f 3), D .75 (f 4), A 1 (f 5);
    # monetary 400 / 400 / 350 / 30 -> D .25 (m 2), C .5 (m 3), A and B tie at cd 1 (m 5).
    # A: 100 + 200 + 100. B: 300 + 150 - 50 returned. C: USD 50 at 7.0 (rate of 2024-12-31). D: 10 + 20.
    expected = {
        "A": (0, 3, "400.00", 4, 5, 5, "high_value"),
        "B": (1, 1, "400.00", 3, 3, 5, "general"),
        "C": (180, 1, "350.00", 2, 3, 3, "at_risk"),
        "D": (363, 2, "30.00", 1, 4, 2, "at_risk"),
    }
    assert set(got) == set(expected)
    for account, (recency, frequency, monetary, r, f, m, segment) in expected.items():
        row = got[account]
        assert (row["recency_days"], row["frequency"], row["monetary"]) == (recency, frequency, monetary), account
        assert (row["r_score"], row["f_score"], row["m_score"], row["rfm_segment"]) == (r, f, m, segment), account


def test_peer_funnel_on_a_hand_made_fixture(hand_raw: Path):
    result = peer.run(hand_raw, None)
    funnel = {s["step"]: s for s in result["funnel"]}
    # P4 was created after the as-of date (out of scope); P2 (lost after needs_analysis) reached two stages.
    assert [funnel[s]["reached_count"] for s in peer.STAGE_ORDER] == [3, 3, 2, 1, 1]
    assert funnel["qualification"]["conversion_rate"] == 1.0
    assert funnel["needs_analysis"]["conversion_rate"] == pytest.approx(2 / 3)
    assert funnel["closed_won"]["conversion_rate"] is None

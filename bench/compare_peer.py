"""Does the pandas peer (bench/pandas_peer.py) agree with the warehouse's marts?

`compare(peer_json, database)` reads `marts.rfm_customer` and the opportunity part of `marts.funnel`
from a DuckDB file (the warehouse, or the published BI snapshot `marts.duckdb`), opened read-only
and attached under an alias so that both layouts work, and checks them against the peer's output:

* RFM: the same customers; per account_id recency_days, frequency, r/f/m scores, rfm_segment (and
  customer_tier, which the peer also computes) equal, monetary within 0.01 CNY;
* funnel: per stage reached_count equal, conversion_rate within 1e-9 (both null on the last stage).

    python bench/compare_peer.py peer.json warehouse.duckdb   # prints the report, exit 1 on disagreement
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import duckdb

MONEY_TOLERANCE = Decimal("0.01")
RATE_TOLERANCE = 1e-9
MAX_EXAMPLES = 10
EXACT_RFM = ("recency_days", "frequency", "r_score", "f_score", "m_score", "rfm_segment", "customer_tier")


def _read_marts(database: Path) -> tuple[list[dict], list[dict], str | None]:
    con = duckdb.connect()  # in memory; the file is attached read-only under a fixed alias
    try:
        con.execute(f"attach '{str(database).replace(chr(39), chr(39) * 2)}' as wh (read_only)")
        rfm = con.execute(
            "select account_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment, "
            "customer_tier from wh.marts.rfm_customer"
        ).fetchall()
        cols = [
            "account_id",
            "recency_days",
            "frequency",
            "monetary",
            "r_score",
            "f_score",
            "m_score",
            "rfm_segment",
            "customer_tier",
        ]
        funnel = con.execute(
            "select step, step_order, reached_count, conversion_rate from wh.marts.funnel "
            "where funnel = 'opportunity' order by step_order"
        ).fetchall()
        try:
            as_of = con.execute("select max(as_of_date)::varchar from wh.intermediate.int_as_of_date").fetchall()[0][0]
        except duckdb.Error:
            as_of = None  # a BI snapshot holds only the marts
    finally:
        con.close()
    return (
        [dict(zip(cols, r, strict=True)) for r in rfm],
        [dict(zip(["step", "step_order", "reached_count", "conversion_rate"], r, strict=True)) for r in funnel],
        as_of,
    )


def _money(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def compare_rfm(peer_rows: list[dict], mart_rows: list[dict]) -> dict:
    peer = {r["account_id"]: r for r in peer_rows}
    mart = {r["account_id"]: r for r in mart_rows}
    mismatches: list[dict] = []
    for account in sorted(set(peer) | set(mart), key=lambda a: (a is None, a or "")):
        p, m = peer.get(account), mart.get(account)
        if p is None or m is None:
            mismatches.append({"account_id": account, "only_in": "mart" if p is None else "peer"})
            continue
        diffs = {}
        for col in EXACT_RFM:
            if col in p and p[col] != m[col]:
                diffs[col] = {"peer": p[col], "mart": m[col]}
        pm, mm = _money(p["monetary"]), _money(m["monetary"])
        if (pm is None) != (mm is None) or (pm is not None and abs(pm - mm) > MONEY_TOLERANCE):
            diffs["monetary"] = {"peer": str(pm), "mart": str(mm)}
        if diffs:
            mismatches.append({"account_id": account, "diffs": diffs})
    return {
        "customers": len(mart),
        "peer_customers": len(peer),
        "mismatches": len(mismatches),
        "examples": mismatches[:MAX_EXAMPLES],
    }


def compare_funnel(peer_steps: list[dict], mart_steps: list[dict]) -> dict:
    peer = {s["step"]: s for s in peer_steps}
    mart = {s["step"]: s for s in mart_steps}
    mismatches = []
    for step in sorted(set(peer) | set(mart), key=lambda s: (mart.get(s) or peer.get(s))["step_order"]):
        p, m = peer.get(step), mart.get(step)
        if p is None or m is None:
            mismatches.append({"step": step, "only_in": "mart" if p is None else "peer"})
            continue
        diffs = {}
        if p["reached_count"] != m["reached_count"]:
            diffs["reached_count"] = {"peer": p["reached_count"], "mart": m["reached_count"]}
        pc, mc = p["conversion_rate"], m["conversion_rate"]
        if (pc is None) != (mc is None) or (pc is not None and abs(pc - mc) > RATE_TOLERANCE):
            diffs["conversion_rate"] = {"peer": pc, "mart": mc}
        if diffs:
            mismatches.append({"step": step, "diffs": diffs})
    return {
        "steps": len(mart),
        "mismatches": len(mismatches),
        "examples": mismatches[:MAX_EXAMPLES],
        "reached": {s: mart[s]["reached_count"] for s in mart},
    }


def compare(peer_json: Path, warehouse_or_snapshot: Path) -> dict:
    peer = json.loads(Path(peer_json).read_text(encoding="utf-8"))
    mart_rfm, mart_funnel, mart_as_of = _read_marts(Path(warehouse_or_snapshot))
    rfm = compare_rfm(peer["rfm"], mart_rfm)
    funnel = compare_funnel(peer["funnel"], mart_funnel)
    as_of_agrees = mart_as_of is None or mart_as_of == peer["as_of"]
    return {
        "as_of": {"peer": peer["as_of"], "mart": mart_as_of, "agree": as_of_agrees},
        "rfm": rfm,
        "funnel": funnel,
        "agree": as_of_agrees and rfm["mismatches"] == 0 and funnel["mismatches"] == 0 and rfm["customers"] > 0,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python bench/compare_peer.py <peer.json> <warehouse.duckdb | marts.duckdb>", file=sys.stderr)
        return 2
    report = compare(Path(args[0]), Path(args[1]))
    print(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    return 0 if report["agree"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of the customer value step (fit + scoring + holdout validation) on a built warehouse.

    .venv/bin/python -m dagster_project generate --scale 1 --out /tmp/s1/raw
    S2S_RAW_DIR=/tmp/s1/raw S2S_WAREHOUSE=/tmp/s1/w/warehouse.duckdb S2S_BI_DIR=/tmp/s1/w/bi \
        .venv/bin/python -m dagster_project run
    .venv/bin/python bench/customer_value.py --warehouse /tmp/s1/w/warehouse.duckdb --label 1

Each measurement is its own process (import included), measured with wait4 (wall, CPU, peak RSS):
- cold: an empty pytensor compile folder (a new deployment, or new library versions);
- warm: the same folder again (every later run of the deployment);
- new history: the same folder, the warehouse's orders without one customer's, a purchase history
  never fitted in that folder (each day in production: its new orders);
- reused: nothing changed since the last fit (the step only compares the inputs fingerprint).
The step runs on a copy of the warehouse. Results are appended to bench/results/customer_value.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure  # noqa: E402

STEP = """
import json, sys, time
from pathlib import Path
from dagster_project.customer_value.models import use_compile_dir
use_compile_dir(Path(sys.argv[2]))
started = time.perf_counter()
from dagster_project.customer_value.pipeline import run_customer_value
from dagster_project.warehouse import open_warehouse
imported = time.perf_counter() - started
with open_warehouse(sys.argv[1]) as con:
    outcome = run_customer_value(con, force=sys.argv[3] == "force")
f, v = outcome.forecast, outcome.validation
print(json.dumps({"import_s": round(imported, 2), "step_s": round(outcome.seconds, 2), "reused": outcome.reused,
    "customers": f["customers"], "bgnbd_fit_s": f.get("bgnbd_fit_seconds"), "gg_fit_s": f.get("gg_fit_seconds"),
    "scoring_s": f.get("scoring_seconds"), "validation_fit_s": v.get("bgnbd_fit_seconds"),
    "holdout_relative_error": v.get("holdout_relative_error"), "status": [f["status"], v["status"]]}))
"""


def _leave_out_one_customer(warehouse: Path) -> None:
    """Delete the orders of the customer with the fewest purchases from the fit's input table."""
    import duckdb

    from dagster_project.customer_value.history import ORDERS_TABLE

    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f"delete from {ORDERS_TABLE} where account_id = (select account_id from {ORDERS_TABLE} "
            "where account_id is not null group by all order by count(*), account_id limit 1)"
        )


def run(warehouse: Path, label: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="cv_bench_"))
    copy = work / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    compile_dir = work / "pytensor"
    results = {}
    for name, mode in (("cold", "force"), ("warm", "force"), ("new_history", "force"), ("reused", "reuse")):
        if name == "new_history":
            _leave_out_one_customer(copy)
        log = work / f"{name}.log"
        m = measure(name, [sys.executable, "-c", STEP, str(copy), str(compile_dir), mode], log=log)
        last = log.read_text().strip().splitlines()[-1] if log.exists() else ""
        detail = json.loads(last) if last.startswith("{") else {"error": last}
        results[name] = {**m.as_dict(), **detail}
        print(f"scale {label} {name}: {m.wall_s:.1f} s wall, {m.peak_rss_mib:.0f} MiB peak RSS, {detail}")
    shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--label", required=True, help="e.g. the scale")
    args = parser.parse_args()
    results = run(args.warehouse, args.label)
    out = Path(__file__).resolve().parent / "results" / "customer_value.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(out.read_text()) if out.exists() else {}
    saved[args.label] = results
    out.write_text(json.dumps(saved, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

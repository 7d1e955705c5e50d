"""Completeness and validity through Great Expectations, on a hand-made accounts table."""

from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity
from dagster_project.quality.expectations import ExpectationRunner, record_results, recorded_results


def test_completeness_and_validity_against_hand_counts(con, raw_dir, tmp_path):
    accounts = load_contracts()["crm.accounts"]
    rows = []
    for i in range(20):
        industry = "" if i in (3, 7) else "制造"  # 18 of 20 = 90% < 95%
        city = "" if i == 5 else "上海"  # 19 of 20 = 95%, exactly on target
        employees = "0" if i == 9 else "120"  # one value under the min of 1 (validity, mostly 0.99)
        rows.append([f"A{i}", f"公司{i}", industry, employees, "华东", "上海", city, "R1", "2025-01-01", "2025-01-01"])
    header = [c for c in accounts.column_names if c != "payment_terms_days"]  # optional, not delivered here
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(header, rows))
    load_entity(con, accounts, raw_dir)

    runner = ExpectationRunner(tmp_path / "gx")
    completeness, validity = runner.validate(con, accounts)

    by_field = {f.field: (f.rows, f.complete_rows, f.completeness, f.target, f.passed) for f in completeness}
    assert by_field == {
        "account_name": (20, 20, 1.0, 0.95, True),
        "industry": (20, 18, 0.9, 0.95, False),
        "employee_count": (20, 20, 1.0, 0.95, True),
        "region": (20, 20, 1.0, 0.95, True),
        "city": (20, 19, 0.95, 0.95, True),
        "owner_rep_id": (20, 20, 1.0, 0.95, True),
    }
    industry = next(f for f in completeness if f.field == "industry")
    assert industry.shortfall() == (
        "crm.accounts.industry: 90.0% complete, target 95% (5.0 points short; 2 of 20 rows empty)"
    )
    assert [(v.field, v.rule, v.checked_rows, v.failing_rows, v.passed) for v in validity] == [
        ("employee_count", ">= 1", 20, 1, False)
    ]

    record_results(con, "run-1", completeness, validity)
    record_results(con, "run-2", completeness, validity)
    history = con.execute(
        "select run_id, count(*), count(*) filter (not passed) from meta.dq_completeness group by 1 order by 1"
    ).fetchall()
    assert history == [("run-1", 6, 1), ("run-2", 6, 1)]
    # the gate's checks read a run's results back (a separate step): the same verdicts, field by field
    fields, rules = recorded_results(con, "run-2")
    assert list(fields) == ["crm.accounts"] and rules == {"crm.accounts": validity}
    assert [(f.field, f.rows, f.complete_rows, f.target, f.passed, f.severity) for f in fields["crm.accounts"]] == [
        (f.field, f.rows, f.complete_rows, f.target, f.passed, f.severity) for f in completeness
    ]
    assert runner.build_docs().name == "index.html"

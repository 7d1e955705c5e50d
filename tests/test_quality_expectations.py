"""Completeness and validity through Great Expectations, on a hand-made accounts table."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
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


def _account(i: int, industry: str = "制造") -> list:
    return [f"A{i}", f"公司{i}", industry, "120", "华东", "上海", "上海", "R1", "2025-01-01", "2025-01-01"]


def test_a_run_validates_only_the_drops_it_has_not_counted_and_sums_to_a_full_count(con, raw_dir, tmp_path):
    """Issue 14: GX counts new drops only. The sums equal a count of every row from scratch, by hand:
    drop 1 has 10 rows (2 without industry); drop 2 has 4 new rows (1 without industry) and replaces A0
    (empty industry in drop 1) with a filled one; drop 3 adds 2 new rows (1 without industry)."""
    accounts = load_contracts()["crm.accounts"]
    header = [c for c in accounts.column_names if c != "payment_terms_days"]
    runner = ExpectationRunner(tmp_path / "gx")

    def deliver(name: str, rows: list[list]) -> tuple[int, int]:
        write_drop(raw_dir, "crm.accounts", name, csv_text(header, rows))
        load_entity(con, accounts, raw_dir)
        fields, _ = runner.validate(con, accounts)
        industry = next(f for f in fields if f.field == "industry")
        return industry.rows, industry.complete_rows

    def groups() -> list[list[tuple[str, int]]]:
        stored = con.execute(
            "select group_id, list(row(drop_id, rows) order by drop_id) from meta.dq_validated_drops "
            "where entity = 'crm.accounts' group by group_id"
        ).fetchall()
        return sorted(([tuple(d) for d in drops] for _, drops in stored), key=len)  # smallest group first

    assert deliver("accounts_2025-01-31.csv", [_account(i, "" if i in (0, 1) else "制造") for i in range(10)]) == (
        10,
        8,
    )
    (drop_1,) = groups()[0]
    assert drop_1[1] == 10

    # A0 replaced: drop 1 lost a row, so its group is void and drop 1 is counted again with drop 2
    drop_2_rows = [_account(0)] + [_account(i, "" if i == 10 else "制造") for i in range(10, 14)]
    assert deliver("accounts_2025-02-28.csv", drop_2_rows) == (14, 12)
    assert len(groups()) == 1 and sorted(rows for _, rows in groups()[0]) == [5, 9]

    # only new keys: the group of drops 1 and 2 stands, drop 3 is counted alone
    assert deliver("accounts_2025-03-31.csv", [_account(14, ""), _account(15)]) == (16, 13)
    assert [len(g) for g in groups()] == [1, 2] and groups()[0][0][1] == 2

    # a forced run counts every drop again, to the same figures
    fields, rules = runner.validate(con, accounts, recount=True)
    assert next((f.rows, f.complete_rows) for f in fields if f.field == "industry") == (16, 13)
    assert [(v.field, v.checked_rows, v.failing_rows, v.passed) for v in rules] == [("employee_count", 16, 0, True)]
    assert [len(g) for g in groups()] == [3]


def test_changed_expectations_count_every_drop_again(con, raw_dir, tmp_path, monkeypatch):
    """The stored counts belong to the expectations they were counted with: a new value rule (here the
    employee count must be at least 200: every row fails it) cannot be answered from them."""
    from dagster_project.quality import expectations

    accounts = load_contracts()["crm.accounts"]
    header = [c for c in accounts.column_names if c != "payment_terms_days"]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(header, [_account(i) for i in range(4)]))
    load_entity(con, accounts, raw_dir)
    runner = ExpectationRunner(tmp_path / "gx")
    _, rules = runner.validate(con, accounts)
    assert [(v.checked_rows, v.failing_rows, v.passed) for v in rules] == [(4, 0, True)]

    config = expectations.quality_config()
    stricter = {
        **config,
        "validity": {**config["validity"], "crm.accounts": [{"column": "employee_count", "min": 200}]},
    }
    monkeypatch.setattr(expectations, "quality_config", lambda: stricter)
    _, rules = runner.validate(con, accounts)
    assert [(v.rule, v.checked_rows, v.failing_rows, v.passed) for v in rules] == [(">= 200", 4, 4, False)]


def test_drops_are_validated_in_batches_of_bounded_rows(con, raw_dir, tmp_path, monkeypatch):
    """A first load is cut into batches of at most max_rows_per_validation rows, one GX frame each (a drop
    larger than that is a batch alone); the figures are the same sums."""
    from dagster_project.quality import expectations

    assert expectations.batches(["d1", "d2", "d3", "d4"], {"d1": 3, "d2": 2, "d3": 6, "d4": 1}, 5) == [
        ["d1", "d2"],
        ["d3"],
        ["d4"],
    ]
    accounts = load_contracts()["crm.accounts"]
    header = [c for c in accounts.column_names if c != "payment_terms_days"]
    for month, ids in (("01", range(0, 3)), ("02", range(3, 5)), ("03", range(5, 9))):
        rows = [_account(i, "" if i in (1, 6) else "制造") for i in ids]
        write_drop(raw_dir, "crm.accounts", f"accounts_2025-{month}-28.csv", csv_text(header, rows))
    load_entity(con, accounts, raw_dir)
    config = expectations.quality_config()
    monkeypatch.setattr(expectations, "quality_config", lambda: {**config, "max_rows_per_validation": 5})
    fields, _ = ExpectationRunner(tmp_path / "gx").validate(con, accounts)
    assert next((f.rows, f.complete_rows) for f in fields if f.field == "industry") == (9, 7)
    sizes = [n for (n,) in con.execute("select sum(rows) from meta.dq_validated_drops group by group_id").fetchall()]
    assert sum(sizes) == 9 and len(sizes) >= 2 and max(sizes) <= 5  # never more than 5 rows in one frame


def test_a_suite_is_stored_once_and_built_again_only_when_its_expectations_change(con, raw_dir, tmp_path, monkeypatch):
    """Issue 14: building and storing an entity's suite and validation definition cost ~70 ms an entity
    in every run. A later run (a new runner on the same GX folder) reuses them while the expectations
    are the same, and counts the same; a changed target builds them again, with that target."""
    from dagster_project.quality import expectations

    accounts = load_contracts()["crm.accounts"]
    header = [c for c in accounts.column_names if c != "payment_terms_days"]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(header, [_account(i) for i in range(4)]))
    load_entity(con, accounts, raw_dir)

    def stored_files() -> dict[str, int]:
        names = ("expectations", "validation_definitions")
        paths = [p for p in (tmp_path / "gx").rglob("*.json") if p.parent.name in names]
        paths += list((tmp_path / "gx").rglob("great_expectations.yml"))
        return {p.name: p.stat().st_mtime_ns for p in paths}

    runner = ExpectationRunner(tmp_path / "gx")
    first = runner.validate(con, accounts, recount=True)
    files = stored_files()
    assert {"crm.accounts.json", "great_expectations.yml"} <= set(files)
    index = runner.build_docs()
    built = index.stat().st_mtime_ns

    runner = ExpectationRunner(tmp_path / "gx")
    again = runner.validate(con, accounts, recount=True)
    assert stored_files() == files  # nothing stored again
    assert again == first
    assert runner.build_docs() == index and index.stat().st_mtime_ns > built  # it shows the new validation result
    built = index.stat().st_mtime_ns

    runner = ExpectationRunner(tmp_path / "gx")
    runner.validate(con, accounts)  # no new drop: GX validates nothing
    assert runner.build_docs() == index and index.stat().st_mtime_ns == built  # nothing new to show

    targets = {}
    monkeypatch.setattr(
        expectations, "field_target", lambda contract, column, policy: targets.setdefault(column.name, 0.5)
    )
    runner = ExpectationRunner(tmp_path / "gx")
    runner.validate(con, accounts, recount=True)
    assert stored_files() != files
    assert runner.build_docs() == index and index.stat().st_mtime_ns > built  # a suite stored since: built again
    page = (index.parent / "expectations" / "crm" / "accounts.html").read_text("utf-8")
    assert "at least 50 % of the time" in " ".join(re.sub(r"<[^>]+>", " ", page).split())
    suite = ExpectationRunner(tmp_path / "gx").context.suites.get("crm.accounts")
    assert {e.column: e.mostly for e in suite.expectations if e.column.startswith("c__")} == {
        "c__" + name: 0.5 for name in targets
    }


def test_the_entities_assets_are_stored_in_one_write_and_a_later_entity_joins_them(con, raw_dir, tmp_path, monkeypatch):
    """Issue 14: each dataframe asset and batch definition added one by one wrote GX's whole config
    again. The worker adds the run's missing ones first, in one write; a later run adds a new entity's
    beside them, and a validation definition stored before still runs as stored (nothing built again)."""
    from great_expectations.data_context import FileDataContext

    writes = []
    save = FileDataContext._save_project_config
    monkeypatch.setattr(FileDataContext, "_save_project_config", lambda self: writes.append(1) or save(self))
    accounts = load_contracts()["crm.accounts"]
    header = [c for c in accounts.column_names if c != "payment_terms_days"]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(header, [_account(i) for i in range(4)]))
    load_entity(con, accounts, raw_dir)

    runner = ExpectationRunner(tmp_path / "gx")
    before = len(writes)
    runner.add_assets(["crm.accounts", "crm.contacts", "crm.accounts"])
    assert len(writes) - before == 1
    first = runner.validate(con, accounts, recount=True)  # stores the suite and validation definition
    before = len(writes)
    runner.add_assets(["crm.contacts"])  # nothing missing: nothing written
    assert len(writes) == before
    definition = tmp_path / "gx" / "gx" / "validation_definitions" / "crm.accounts.json"
    stored = definition.stat().st_mtime_ns

    later = ExpectationRunner(tmp_path / "gx")
    before = len(writes)
    later.add_assets(["crm.accounts", "crm.cases"])
    assert len(writes) - before == 1
    assets = {a.name: [b.name for b in a.batch_definitions] for a in later.datasource.assets}
    assert assets == {name: ["whole_table"] for name in ("crm.accounts", "crm.contacts", "crm.cases")}
    assert later.validate(con, accounts, recount=True) == first
    assert definition.stat().st_mtime_ns == stored  # the stored definition was found and run


def test_each_entity_keeps_the_results_of_its_newest_runs_and_their_pages(con, raw_dir, tmp_path, monkeypatch):
    """Issue 14: every validation stored a result, and building Data Docs read them all (2.6 s with 25
    runs' results). `prune_results(keep)` keeps, per entity, the results of its newest `keep` runs (a
    run stores one result per group of drops) with their pages, and removes the rest."""
    from dagster_project.quality import expectations

    accounts = load_contracts()["crm.accounts"]
    header = [c for c in accounts.column_names if c != "payment_terms_days"]
    for month, ids in (("01", range(0, 3)), ("02", range(3, 6))):
        write_drop(
            raw_dir, "crm.accounts", f"accounts_2025-{month}-28.csv", csv_text(header, [_account(i) for i in ids])
        )
    load_entity(con, accounts, raw_dir)
    config = expectations.quality_config()
    monkeypatch.setattr(expectations, "quality_config", lambda: {**config, "max_rows_per_validation": 3})
    runners = [ExpectationRunner(tmp_path / "gx", run_name=f"run-{i}") for i in range(3)]
    for runner in runners:  # three runs, each validating both drops again, as two groups of one drop
        runner.validate(con, accounts, recount=True)
    runner = runners[-1]
    index = runner.build_docs()
    store = runner.context.validation_results_store
    keys = store.list_keys()
    assert sorted(k.run_id.run_name for k in keys) == ["run-0", "run-0", "run-1", "run-1", "run-2", "run-2"]

    def page(key) -> Path:
        *folders, name = key.to_tuple()
        return index.parent.joinpath("validations", *folders, name + ".html")

    assert all(page(k).is_file() for k in keys)
    assert runner.prune_results(2) == 2  # run-0's two results go
    assert sorted(k.run_id.run_name for k in store.list_keys()) == ["run-1", "run-1", "run-2", "run-2"]
    assert runner.prune_results(1) == 2
    kept = store.list_keys()
    assert sorted(k.run_id.run_name for k in kept) == ["run-2", "run-2"]
    assert [page(k).is_file() for k in keys] == [k.run_id.run_name == "run-2" for k in keys]
    # the emptied folders of the pruned runs' pages go too
    assert sorted(p.name for p in (index.parent / "validations" / "crm" / "accounts").iterdir()) == ["run-2"]
    runner.build_docs(pruned=True)
    listed = index.read_text(encoding="utf-8")
    assert "run-2" in listed and "run-1" not in listed and "run-0" not in listed
    assert runner.prune_results(1) == 0
    with pytest.raises(ValueError, match="at least 1"):
        runner.prune_results(0)


LAZY_SCIPY = """
import json, sys
from dagster_project.quality.expectations import scipy_stats_on_first_use

scipy_stats_on_first_use()  # as the GX worker does before it imports GX
kind = type(sys.modules["scipy.stats"]).__name__
import great_expectations  # its KL divergence expectation runs `from scipy import stats`
from scipy import stats
loaded_after_gx = "scipy.stats._stats_py" in sys.modules
normal_cdf_at_0 = float(stats.norm.cdf(0.0))  # the first read loads it
print(json.dumps({
    "kind": kind,
    "loaded_after_gx": loaded_after_gx,
    "normal_cdf_at_0": normal_cdf_at_0,
    "loaded_after_read": "scipy.stats._stats_py" in sys.modules,
}))
"""


def test_scipy_stats_loads_on_first_read_not_with_gx():
    """In a fresh process: scipy.stats made lazy, importing GX leaves it unloaded, and the first read
    of an attribute loads it and answers (the worker's run with GX is in test_quality_worker.py)."""
    done = subprocess.run([sys.executable, "-c", LAZY_SCIPY], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "kind": "_LazyModule",
        "loaded_after_gx": False,
        "normal_cdf_at_0": 0.5,
        "loaded_after_read": True,
    }

"""The whole pipeline through the real CLI (Dagster + dbt + GX + publish) on a small sample:
publishing, masking, readers during a run, the blocking gate, and runs killed mid-build/publish."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import psutil
import pytest

from sample_company import generate

pytestmark = pytest.mark.slow
SCALE = 0.05


def run_cli(env: dict[str, str], *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dagster_project", "run", *args],
        env={**os.environ, **env},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def finish(proc: subprocess.Popen, timeout: int = 900) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def snapshot_state(bi: Path) -> dict[str, str]:
    """Byte digests of what a reader sees: the database, the manifest, and the Parquet files."""
    files = [bi / "marts.duckdb", bi / "snapshot.json", *sorted((bi / "parquet").glob("*.parquet"))]
    return {str(p.relative_to(bi)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def query_every_mart(database: Path) -> dict[str, int]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        ]
        return {t: con.execute(f'select count(*) from marts.marts."{t}"').fetchall()[0][0] for t in tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A sample generated once and a first full run that publishes the snapshot."""
    base = tmp_path_factory.mktemp("e2e")
    generate(base / "raw", scale=SCALE, seed=11, profile="clean")
    env = {
        "S2S_RAW_DIR": str(base / "raw"),
        "S2S_WAREHOUSE": str(base / "warehouse" / "warehouse.duckdb"),
        "S2S_BI_DIR": str(base / "bi"),
        "DAGSTER_HOME": str(base / "dagster_home"),
    }
    code, out = finish(run_cli(env))
    assert code == 0, out[-5000:]
    assert "BI snapshot published" in out
    return base, env


def test_a_rerun_with_nothing_new_does_nothing_and_a_new_drop_reruns(site, tmp_path):
    base, env = site
    before = snapshot_state(base / "bi")
    code, out = finish(run_cli(env))
    assert code == 0, out[-3000:]
    assert "nothing new: no new drop" in out and "no run started" in out
    assert snapshot_state(base / "bi") == before

    # a Dagster run with nothing new (here: the file is new, its content is not) skips dbt, GX, publish
    drops = sorted((base / "raw" / "erp" / "fx_rates").iterdir())
    resent = drops[-1].with_name("resent_" + drops[-1].name)
    resent.write_bytes(drops[-1].read_bytes())
    try:
        code, out = finish(run_cli(env))
    finally:
        resent.unlink()
    assert code == 0, out[-3000:]
    log = Path(out.split("full log (Dagster and dbt): ")[1].splitlines()[0]).read_text(encoding="utf-8")
    assert "quality validation skipped" in log and "dbt build skipped" in log  # each step said why
    assert "in a worker process beside the dbt build" not in log  # no validation started
    # the customer value worker the ingestion step started (a file is new) is stopped by the skipping dbt step
    assert "customer value: worker process started by" in log
    assert not list((base / "warehouse" / "customer_value_worker").glob("*"))
    assert "Great Expectations: worker process started by" in log  # the same for the GX worker
    assert not list((base / "warehouse" / "gx" / "frames").glob("*"))
    assert "nothing new since the BI snapshot" in out
    assert snapshot_state(base / "bi") == before


def assert_in_order(log: str, marks: list[str]) -> None:
    at = [log.find(mark) for mark in marks]
    assert -1 not in at, [m for m, i in zip(marks, at, strict=True) if i < 0]
    assert at == sorted(at)


def test_great_expectations_ran_in_a_worker_beside_the_first_dbt_build(site):
    """The first run's log: `run` starts the worker before the run and its first ingestion step adopts it
    (it imports GX while Dagster starts and ingestion runs), the dbt step gives it the frames before its
    build, the quality step collects its counts after, and the quality marts are built by the second dbt
    step, after that."""
    base, _ = site
    log = sorted((base / "warehouse" / "logs").glob("run-*.log"))[0].read_text(encoding="utf-8")
    assert log.count("Great Expectations: worker process started") == 1  # once per run, not per step
    marks = [
        "raw_crm__accounts - STEP_START",
        "Great Expectations: worker process started by `run`, taken by raw_crm__accounts;",  # early_workers.py
        "raw_crm__accounts - STEP_SUCCESS",
        "dbt_models - STEP_START",
        "group(s) of drops to validate, in a worker process beside the dbt build",
        "dbt_models - STEP_SUCCESS",
        "dq_results - STEP_START",
        "collecting the worker's counts (started by the dbt step)",
        "dq_results - STEP_SUCCESS",
        "dbt_models_after_python - STEP_START",
        "dbt_models_after_python - ASSET_MATERIALIZATION - Materialized value staging stg_meta__dq_completeness.",
    ]
    assert_in_order(log, marks)
    # started before the run had an id, the worker stored its results under the run's
    from dagster_project.quality.expectations import ExpectationRunner

    keys = ExpectationRunner(base / "warehouse" / "gx").context.validation_results_store.list_keys()
    names = {k.run_id.run_name for k in keys}
    assert run_id_in(log) in names and None not in names


def test_the_customer_value_model_was_fitted_in_a_worker_beside_the_first_dbt_build(site):
    """The first run's log: `run` starts the worker before the run and its first ingestion step adopts it
    (it imports while Dagster starts and ingestion runs), the dbt step tells it its inputs are built (dbt
    exported them) before its build ends, and the customer value step, after it, stores the worker's fits."""
    base, _ = site
    log = sorted((base / "warehouse" / "logs").glob("run-*.log"))[0].read_text(encoding="utf-8")
    assert log.count("customer value: worker process started") == 1  # once per run, not per step
    marks = [
        "raw_crm__accounts - STEP_START",
        "customer value: worker process started by `run`, taken by raw_crm__accounts;",  # early_workers.py
        "raw_crm__accounts - STEP_SUCCESS",
        "meta__ingest_audit - STEP_START",
        "dbt_models - STEP_START",
        "Materialized value intermediate int_orders_aggregated_from_lines.",
        "customer value: fitting in a worker process beside the dbt build (its inputs are built)",
        "dbt_models - STEP_SUCCESS",
        "customer_value_model - STEP_START",
        "customer value: collecting the worker's fits",
        "customer_value_model - STEP_SUCCESS",
    ]
    assert_in_order(log, marks)
    assert not list((base / "warehouse" / "customer_value_worker").glob("*"))  # collected and removed
    # started before the run had an id, the worker's fits are stored under the run's
    con = duckdb.connect(str(base / "warehouse" / "warehouse.duckdb"), read_only=True)
    try:
        stored = {r[0] for r in con.execute("select dagster_run_id from ml.customer_value_model_runs").fetchall()}
    finally:
        con.close()
    assert run_id_in(log) in stored and None not in stored


def run_id_in(log: str) -> str:
    ids = set(re.findall(r"refresh_warehouse - ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) - ", log))
    assert len(ids) == 1, ids
    return ids.pop()


def step_outcomes(dagster_home: Path, run_id: str) -> tuple[set[str], set[str]]:
    """(steps that succeeded, steps skipped) in a run, from Dagster's own storage of its events."""
    from dagster._core.events import DagsterEventType
    from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

    storage = DagsterSqliteStorage.from_local(str(dagster_home))
    try:
        records = storage.event_log_storage.get_records_for_run(run_id, limit=100_000).records
    finally:
        storage.dispose()
    by_type: dict[DagsterEventType, set[str]] = {
        DagsterEventType.STEP_SUCCESS: set(),
        DagsterEventType.STEP_SKIPPED: set(),
    }
    for record in records:
        entry = record.event_log_entry
        if entry.dagster_event_type in by_type and entry.step_key:
            by_type[entry.dagster_event_type].add(entry.step_key)
    return by_type[DagsterEventType.STEP_SUCCESS], by_type[DagsterEventType.STEP_SKIPPED]


def test_the_dagster_job_started_by_hand_with_nothing_new_loads_nothing_and_skips_the_rest(site):
    """Dagster's own CLI (as a person or the UI starts the job) has no pre-check: the ingestion steps
    find nothing new and materialize nothing, so Dagster skips every step downstream of them."""
    base, env = site
    before = snapshot_state(base / "bi")
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "dagster_project.definitions"]
        + ["-j", "refresh_warehouse"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "crm.accounts: nothing to load, and the snapshot" in log
    assert "customer value: worker process started by" not in log  # nothing new: no worker either
    # which steps ran and which were skipped: from the run's events as Dagster stored them (the CLI's
    # console once came without the last step's line, though the event was stored)
    ran, skipped = step_outcomes(base / "dagster_home", run_id_in(log))
    assert "raw_crm__accounts" in ran and "meta__field_policy" in ran
    assert {"meta__orphans", "dq_results", "dbt_models", "bi__marts_snapshot", "meta__alerts_sent"} <= skipped
    assert ran <= {"meta__field_policy"} | {s for s in ran if s.startswith("raw_")}  # nothing else ran
    assert snapshot_state(base / "bi") == before


def test_the_run_history_reads_with_dagsters_own_storage_and_dbt_wrote_no_debug_log(site):
    """The generated dagster.yaml stores the history through dagster_project/run_history.py; Dagster's
    default storage reads the same files. dbt started by the run writes no debug log file."""
    from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

    base, _ = site
    home = base / "dagster_home"
    assert "class: KeptOpenSqliteStorage" in (home / "dagster.yaml").read_text(encoding="utf-8")
    storage = DagsterSqliteStorage.from_local(str(home))
    try:
        first = storage.run_storage.get_runs()[-1]  # the site's full run
        assert first.is_success
        records = storage.event_log_storage.get_records_for_run(first.run_id, limit=100_000).records
        materialized = {
            r.event_log_entry.dagster_event.asset_key.to_user_string()
            for r in records
            if r.event_log_entry.dagster_event_type == "ASSET_MATERIALIZATION"
        }
        assert {"bi/marts_snapshot", "raw_crm/accounts", "marts/fct_leads"} <= materialized
    finally:
        storage.dispose()
    logs = sorted((base / "warehouse" / "logs").glob("run-*.log"))
    commands = re.findall(r"Running dbt command: `([^`]*)`", logs[0].read_text(encoding="utf-8"))
    assert len(commands) == 2 and all("--log-level-file none" in c for c in commands), commands


def test_snapshot_holds_every_mart_and_nothing_else(site):
    base, _ = site
    bi = base / "bi"
    counts = query_every_mart(bi / "marts.duckdb")
    for mart in (
        "dim_customer",
        "fct_order_lines",
        "fct_opportunity_stages",
        "lead_scores",
        "funnel",
        "rfm_customer",
        "ltv_cac_by_channel",
        "balanced_scorecard",
        "target_attainment",
        "alerts",
        "dq_completeness",
        "ingest_audit",
    ):
        assert mart in counts, mart
    assert counts["fct_order_lines"] > 0 and counts["balanced_scorecard"] > 0
    con = duckdb.connect(str(bi / "marts.duckdb"), read_only=True)
    schemas = {r[0] for r in con.execute("select distinct table_schema from information_schema.tables").fetchall()}
    con.close()
    assert schemas == {"marts"}
    assert {p.stem for p in (bi / "parquet").glob("*.parquet")} == set(counts)


def test_no_raw_email_or_phone_reaches_the_snapshot(site):
    base, env = site
    warehouse = duckdb.connect(env["S2S_WAREHOUSE"], read_only=True)
    personal = {
        v
        for (v,) in warehouse.execute(
            "select email from raw_crm.contacts union select phone from raw_crm.contacts "
            "union select email from raw_crm.sales_reps"
        ).fetchall()
        if v
    }
    warehouse.close()
    assert len(personal) > 50
    snap = duckdb.connect(str(base / "bi" / "marts.duckdb"), read_only=True)
    snap.execute("create temp table personal (v varchar)")
    snap.executemany("insert into personal values (?)", [[v] for v in personal])
    text_columns = snap.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_catalog = 'marts' and table_schema = 'marts' and data_type = 'VARCHAR'"
    ).fetchall()
    leaks = {}
    for table, column in text_columns:
        n = snap.execute(
            f'select count(*) from marts.marts."{table}" t join personal p on position(p.v in t."{column}") > 0'
        ).fetchall()[0][0]
        if n:
            leaks[f"{table}.{column}"] = n
    snap.close()
    assert leaks == {}


def test_readers_of_the_snapshot_never_fail_during_a_run(site):
    base, env = site
    database = base / "bi" / "marts.duckdb"
    before = (base / "bi" / "snapshot.json").read_text()
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(database), str(base / "reader.stop")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    code, out = finish(run_cli(env, "--force"))  # nothing changed: only --force rebuilds and publishes
    (base / "reader.stop").touch()
    report, _ = reader.communicate(timeout=120)
    assert code == 0, out[-3000:]
    assert reader.returncode == 0, report
    rounds, failures = (int(x) for x in report.split())
    assert rounds >= 3 and failures == 0
    assert (base / "bi" / "snapshot.json").read_text() != before  # the run published a new snapshot
    # a forced run builds the snapshot whole, not from the previous one
    assert json.loads((base / "bi" / "snapshot.json").read_text())["rebuilt_because"] == "a full rebuild was asked for"


READER = """
import sys, time, duckdb
from pathlib import Path
database, stop = sys.argv[1], Path(sys.argv[2])
rounds = failures = 0
while not stop.exists():
    try:
        con = duckdb.connect(database, read_only=True)
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()]
        assert len(tables) > 10
        for t in tables:
            con.execute(f'select count(*) from marts.marts."{t}"').fetchall()
        con.close()
        rounds += 1
    except Exception as exc:
        failures += 1
        print(repr(exc), file=sys.stderr)
    time.sleep(0.2)
print(rounds, failures)
"""


def test_baseline_completeness_blocks_publish_and_keeps_the_snapshot(site, tmp_path):
    base, env = site
    before = snapshot_state(base / "bi")
    generate(tmp_path / "raw", scale=SCALE, seed=11, profile="baseline")
    baseline_env = {
        **env,
        "S2S_RAW_DIR": str(tmp_path / "raw"),
        "S2S_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }

    code, out = finish(run_cli(baseline_env))

    assert code == 1
    assert "Traceback" not in out
    assert "BI snapshot NOT published (blocking checks failed)" in out
    assert "[ERROR] marts/dq_completeness completeness__crm__accounts: crm.accounts." in out
    assert "points short" in out
    assert snapshot_state(base / "bi") == before
    # the marts were still built in the working warehouse, for inspection
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    assert con.execute("select count(*) from marts.fct_order_lines").fetchall()[0][0] > 0
    history = con.execute("select min(completeness) from marts.dq_completeness where source = 'crm'").fetchall()
    con.close()
    assert history[0][0] < 0.6


def _start_draining(proc: subprocess.Popen, seen: list[str]) -> threading.Thread:
    """Keep reading the run's output (a full pipe would stall it), remembering each line."""
    thread = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")), daemon=True)
    thread.start()
    return thread


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the run ended before the kill point"
        assert time.monotonic() < deadline, "kill point not reached"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its dbt subprocess
    proc.wait()


@pytest.mark.parametrize("moment", ["build", "publish"])
def test_run_killed_mid_build_or_publish_leaves_last_snapshot_and_rerun_completes(site, moment):
    base, env = site
    bi = base / "bi"
    before = snapshot_state(bi)
    proc = run_cli(env, "--force", "--verbose")  # Dagster's events on screen: the test waits for one
    lines: list[str] = []
    _start_draining(proc, lines)
    if moment == "build":
        started: list[float] = []

        def ready() -> bool:  # dbt has been building models in the warehouse for 3 seconds
            if not started and any("dbt_models" in line and "STEP_START" in line for line in lines):
                started.append(time.monotonic())
            return bool(started) and time.monotonic() - started[0] > 3

        _kill_when(proc, ready)
        assert snapshot_state(bi) == before
    else:
        _kill_when(proc, lambda: any(bi.glob(".marts.duckdb.*.building")))
        json.loads((bi / "snapshot.json").read_text())  # the old or (if the swap was done) the new one

    assert len(query_every_mart(bi / "marts.duckdb")) > 10  # readable and whole
    code, out = finish(run_cli(env, "--force"))
    assert code == 0, out[-3000:]
    assert "BI snapshot published" in out


def _dbt_children(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if any(Path(word).name in ("dbt", "s2s-dbt") for word in child.cmdline()[:2]):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_a_run_killed_during_dbt_leaves_no_dbt_running(site):
    """Issue 9, item 19: SIGKILL of the run alone (not its process group) takes dbt with it."""
    base, env = site
    proc = run_cli(env, "--force", "--verbose")  # Dagster's events on screen: the test waits for one
    lines: list[str] = []
    _start_draining(proc, lines)
    deadline = time.monotonic() + 600
    building: list[psutil.Process] = []
    while not building or not any("dbt_models" in line and "STEP_START" in line for line in lines):
        assert proc.poll() is None, "the run ended before dbt started"
        assert time.monotonic() < deadline, "dbt did not start"
        building = [p for p in _dbt_children(proc.pid) if "build" in p.cmdline()]
        time.sleep(0.2)
    time.sleep(3)  # dbt is building models in the warehouse

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    from test_dbt_child import ended

    assert all(ended(p, within=20) for p in building), "dbt outlived the run"
    code, out = finish(run_cli(env, "--force"))  # the warehouse is free: the next run works
    assert code == 0, out[-3000:]
    assert "Traceback" not in out


@contextmanager
def small_disk(path: Path, size: str):
    """A tmpfs of `size` mounted at `path` (needs root); the test is skipped where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}): disk full not testable")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_during_publish_is_said_and_leaves_nothing_behind(site, tmp_path):
    """Issue 9, item 20: the BI folder on a 2 MB disk; the snapshot needs more."""
    base, env = site
    with small_disk(tmp_path / "bi", "2m") as bi:
        code, out = finish(run_cli({**env, "S2S_BI_DIR": str(bi)}, "--force"))

        assert code == 1
        assert "Traceback" not in out
        summary = out[out.index("checks: ") :]
        assert "step bi__marts_snapshot failed: " in summary
        assert "No space left on device" in summary.split("step bi__marts_snapshot failed: ")[1].splitlines()[0]
        assert "BI snapshot NOT published (the publish step failed: " in summary
        assert "did not reach the publish step" not in summary
        leftovers = [p.relative_to(bi).as_posix() for p in bi.rglob("*")]
        assert leftovers in ([], [".snapshots"]), leftovers


def test_a_full_disk_under_the_warehouse_is_said_in_the_summary(site, tmp_path):
    """Issue 9, item 20: the warehouse on a disk with 3 MB to spare; dbt's build needs more."""
    base, env = site
    source = Path(env["S2S_WAREHOUSE"])
    size_mb = source.stat().st_size // (1 << 20) + 3
    with small_disk(tmp_path / "disk", f"{size_mb}m") as disk:
        warehouse = disk / "warehouse.duckdb"
        shutil.copyfile(source, warehouse)
        code, out = finish(
            run_cli({**env, "S2S_WAREHOUSE": str(warehouse), "S2S_BI_DIR": str(tmp_path / "bi")}, "--force")
        )

        assert code == 1
        assert "Traceback" not in out
        summary = out[out.index("checks: ") :]
        assert "No space left on device" in summary
        assert "BI snapshot NOT published" in summary

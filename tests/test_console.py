"""What `run` prints (issue 14): one line per step and the summary under a heading, at most 40 lines,
naming the run log that holds Dagster's and dbt's full output; `--verbose` prints that too. And the
code location's start-up: the dbt manifest is parsed only when the dbt sources changed."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.console import RunConsole, new_run_log
from sample_company import generate

MAX_LINES = 40


def _run(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "dagster_project", "run", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # as on a terminal: step lines (stderr), then the summary (stdout)
        text=True,
        timeout=1200,
    )
    return done.returncode, done.stdout.splitlines()


def _log_named(lines: list[str]) -> Path:
    named = [line.split(": ", 1)[1] for line in lines if line.startswith("full log (Dagster and dbt): ")]
    assert len(named) == 1, lines
    return Path(named[0])


def test_step_lines_and_the_run_log_on_a_two_asset_job(tmp_path):
    """The loggers the CLI gives its job, on a tiny job: one line per step (the grouped steps as one,
    their ingestion counts summed), Dagster's DEBUG log in the file, warnings grouped by kind."""

    @dg.asset
    def accounts():
        return dg.MaterializeResult(metadata={"drops_loaded": 2, "rows_loaded": 7, "rows_quarantined": 1})

    @dg.asset
    def leads():
        return dg.MaterializeResult(metadata={"drops_loaded": 1, "rows_loaded": 3, "rows_quarantined": 0})

    @dg.asset(deps=[accounts, leads], check_specs=[dg.AssetCheckSpec("has_rows", asset="scores")])
    def scores(context):
        for name in ("a_b.csv", "c_d.csv"):
            context.log.warning(f"ignored `{name}`: not an extract")
        print("a library printing")
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(passed=False, check_name="has_rows")

    screen = io.StringIO()
    console = RunConsole(
        new_run_log(tmp_path / "wh" / "warehouse.duckdb"), verbose=False, group_steps={}, screen=screen
    )
    console.steps.group_steps.update({"accounts": "ingest", "leads": "ingest"})
    defs = dg.Definitions(assets=[accounts, leads, scores], jobs=[dg.define_asset_job("tiny")])
    job = defs.resolve_job_def("tiny").with_logger_defs(console.logger_defs())
    with console.capture():
        result = job.execute_in_process(run_config=console.run_config(), instance=dg.DagsterInstance.ephemeral())
    console.close()

    assert result.success
    lines = screen.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert re.fullmatch(
        r"  ingest \(2 entities\) +ok +\d+\.\ds  2 assets, 3 drops, 10 rows loaded, 1 quarantined", lines[0]
    )
    assert re.fullmatch(r"  scores +ok +\d+\.\ds  1 asset, 1 check \(1 failed\)", lines[1])
    assert console.warning_lines() == [
        "warnings: 2 (1 kinds), in the run log",
        "  2x [log] ignored `…`: not an extract",
    ]
    log = console.log_path.read_text(encoding="utf-8")
    assert console.log_path.parent == tmp_path / "wh" / "logs"
    assert " - DEBUG - " in log and "STEP_SUCCESS" in log and "a library printing" in log
    assert "ignored `a_b.csv`: not an extract" in log


@pytest.fixture(scope="module")
def sample_env(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("console")
    generate(base / "raw", scale=0.05, seed=11, profile="clean")
    (base / "dagster_home").mkdir()
    return {
        "S2S_RAW_DIR": str(base / "raw"),
        "S2S_WAREHOUSE": str(base / "warehouse" / "warehouse.duckdb"),
        "S2S_BI_DIR": str(base / "warehouse" / "bi"),
        "DAGSTER_HOME": str(base / "dagster_home"),
    }


@pytest.fixture(scope="module")
def healthy_run(sample_env) -> tuple[int, list[str]]:
    return _run(sample_env)


@pytest.mark.slow
def test_a_healthy_run_prints_at_most_40_lines_and_names_its_log(sample_env, healthy_run):
    code, lines = healthy_run

    assert code == 0, "\n".join(lines)
    assert len(lines) <= MAX_LINES, "\n".join(lines)
    assert not any("Traceback" in line or " - DEBUG - " in line for line in lines)
    assert any(line.startswith("== summary ") for line in lines)
    assert any(re.match(r"  ingest \(20 entities\) +ok ", line) for line in lines), lines
    assert any(re.match(r"  dbt_models +ok .* assets", line) for line in lines), lines
    log = _log_named(lines)
    assert log.parent == Path(sample_env["S2S_WAREHOUSE"]).parent / "logs"
    text = log.read_text(encoding="utf-8")
    # the full logs are in the file: Dagster's DEBUG events and dbt's own lines
    assert " - DEBUG - " in text and "STEP_SUCCESS" in text
    assert re.search(r"\d+ of \d+ (START|OK|PASS)", text)
    # the singular tests name the model they guard, and no dbt test sits on a source (ingestion's
    # checks are the one engine for keys and values): no dbt test is left unattached to an asset
    assert "is a singular test with multiple dependencies" not in text
    assert "Logging an `AssetObservation` instead of an `AssetCheckResult`" not in text


@pytest.mark.slow
def test_verbose_prints_the_full_logs_too(sample_env, healthy_run):
    _, quiet = healthy_run
    code, verbose = _run(sample_env, "--force", "--verbose")

    assert code == 0, "\n".join(verbose[-40:])
    assert len(verbose) > 10 * len(quiet)
    assert any(" - DEBUG - " in line for line in verbose)
    assert _log_named(verbose).is_file()


@pytest.mark.slow
def test_a_blocked_run_gives_its_reason_without_a_traceback(tmp_path):
    generate(tmp_path / "raw", scale=0.05, seed=11, profile="baseline")  # CRM below the completeness target
    (tmp_path / "dagster_home").mkdir(exist_ok=True)
    env = {
        "S2S_RAW_DIR": str(tmp_path / "raw"),
        "S2S_WAREHOUSE": str(tmp_path / "warehouse" / "warehouse.duckdb"),
        "S2S_BI_DIR": str(tmp_path / "warehouse" / "bi"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }

    code, lines = _run(env)

    assert code == 1
    assert not any("Traceback" in line or line.startswith("  File ") for line in lines), "\n".join(lines)
    summary = lines.index(next(line for line in lines if line.startswith("== summary ")))
    assert any(re.match(r"  dq_gate +FAILED ", line) for line in lines[:summary]), "\n".join(lines)  # the gate step
    assert any(line.startswith("  [ERROR] marts/dq_completeness completeness__crm__") for line in lines[summary:])
    assert any(line.startswith("BI snapshot NOT published (blocking checks failed)") for line in lines[summary:])
    assert _log_named(lines).is_file()


# -- start-up: the manifest is prepared once -----------------------------------------------------

IMPORT_AND_REPORT = """
import sys
import dagster_dbt.core.resource as resource
calls = []
original = resource.DbtCliResource.cli
def spy(self, args, **kwargs):
    calls.append(list(args))
    return original(self, args, **kwargs)
resource.DbtCliResource.cli = spy
import dagster_project.definitions
assert dagster_project.definitions.__file__.startswith(sys.argv[1]), dagster_project.definitions.__file__
print("dbt calls:", calls)
"""


def _import_code_location(project_root: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_AND_REPORT, str(project_root)],
        cwd=project_root,
        env={**os.environ, "PYTHONPATH": str(project_root)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [line for line in done.stdout.splitlines() if line.startswith("dbt calls:")][0]


@pytest.mark.slow
def test_the_code_location_parses_dbt_only_when_a_dbt_file_changed(tmp_path):
    """A copy of the project: importing it twice parses once; editing a model parses again, and the
    edited model's new column is in the manifest (a stale one was the KeyError of issue 14)."""
    repo = Path(__file__).resolve().parents[1]
    copy = tmp_path / "project"
    shutil.copytree(repo / "dagster_project", copy / "dagster_project", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(repo / "dbt", copy / "dbt", ignore=shutil.ignore_patterns("target", "logs"))

    assert "parse" in _import_code_location(copy)  # no manifest yet: parsed
    assert _import_code_location(copy) == "dbt calls: []"  # manifest current: dbt not invoked

    model = copy / "dbt" / "models" / "marts" / "core" / "dim_product.sql"
    if not model.is_file():
        model = next((copy / "dbt" / "models" / "marts").rglob("*.sql"))
    model.write_text(model.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")

    assert "parse" in _import_code_location(copy)  # a model changed: parsed again
    assert _import_code_location(copy) == "dbt calls: []"


def test_verbose_puts_dagsters_debug_log_on_screen_too(tmp_path, capsys):
    @dg.asset
    def accounts():
        return 1

    console = RunConsole(new_run_log(tmp_path / "warehouse.duckdb"), verbose=True, group_steps={})
    job = dg.Definitions(assets=[accounts], jobs=[dg.define_asset_job("tiny")]).resolve_job_def("tiny")
    with console.capture():
        job.with_logger_defs(console.logger_defs()).execute_in_process(
            run_config=console.run_config(), instance=dg.DagsterInstance.ephemeral()
        )
    console.close()

    screen = capsys.readouterr()
    assert " - DEBUG - " in screen.err and "STEP_SUCCESS" in screen.err
    assert "STEP_SUCCESS" in console.log_path.read_text(encoding="utf-8")

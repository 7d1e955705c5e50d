"""What `run` prints (issue 14): one line per step and the summary under a heading, at most 40 lines,
naming the run log that holds Dagster's and dbt's full output; `--verbose` prints that too. And the
code location's start-up: the dbt manifest is parsed only when the dbt sources changed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.sample import generate

MAX_LINES = 40


def _run(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "dagster_project", "run", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return done.returncode, (done.stdout + done.stderr).splitlines()


def _log_named(lines: list[str]) -> Path:
    named = [line.split(": ", 1)[1] for line in lines if line.startswith("full log (Dagster and dbt): ")]
    assert len(named) == 1, lines
    return Path(named[0])


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


@pytest.mark.slow
def test_a_healthy_run_prints_at_most_40_lines_and_names_its_log(sample_env):
    code, lines = _run(sample_env)

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
    # dagster-dbt's indirect-selection warning is gone for the singular tests (they name their model)
    assert "is a singular test with multiple dependencies" not in text


@pytest.mark.slow
def test_verbose_prints_the_full_logs_too(sample_env):
    code, quiet = _run(sample_env, "--force")
    code_verbose, verbose = _run(sample_env, "--force", "--verbose")

    assert code == code_verbose == 0
    assert len(quiet) <= MAX_LINES
    assert len(verbose) > 10 * len(quiet)
    assert any(" - DEBUG - " in line for line in verbose)
    assert _log_named(verbose).is_file()


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

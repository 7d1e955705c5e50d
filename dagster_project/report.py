"""What a run prints at the end: the checks that failed and by how much (a failing dbt test with its
model, column and a few failing rows), the files rejected, ignored or repeated, the ingestion
accounting, and where the warehouse and the published BI snapshot are.

The summary never fails itself: a warehouse it cannot read (another process holds it, the disk is
full) is said in one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.defs.publish.assets import SNAPSHOT_KEY
from dagster_project.publish.fingerprint import unchanged_snapshot
from dagster_project.settings import Settings
from dagster_project.warehouse import WarehouseLocked, open_warehouse, quote

_SAMPLE_ROWS = 3
_CELL_CHARS = 40


def _describe(evaluation) -> str:
    """The check's own description, or for a dbt test the number of rows that failed it."""
    if evaluation.description:
        return evaluation.description
    failed_rows = evaluation.metadata.get("dagster_dbt/failed_row_count")
    return f"{failed_rows.value} failing rows (dbt test)" if failed_rows else "failed"


_DBT_TEST_KINDS = (
    "relationships",
    "not_null",
    "primary_key",
    "unique_combination_of_columns",
    "unique",
    "accepted_values",
    "expression_is_true",
)


def _family(check_name: str) -> str:
    """The kind of a check, to group warnings: freshness, completeness, relationships (dbt), ..."""
    for kind in _DBT_TEST_KINDS:
        if check_name.removeprefix("source_").startswith(kind + "_"):
            return f"{kind} (dbt tests)"
    return check_name.split("__")[0]


# -- failing dbt tests: model, column, a few rows ----------------------------------------------


@dataclass(frozen=True)
class DbtTestFailure:
    test: str  # the test's kind (not_null, relationships, ...) or its name for a singular test
    model: str | None
    column: str | None
    rows_sql: str  # a few rows that fail the test


def _invocation_folders(target_dir: Path, run_id: str) -> list[Path]:
    """dagster-dbt's per-invocation target folders of this run (`<op>-<run id[:7]>-<uuid>`), newest first."""
    folders = [p for p in target_dir.glob(f"*-{run_id[:7]}-*") if (p / "run_results.json").is_file()]
    return sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)


def _relation(node: dict) -> str:
    return ".".join(quote(part) for part in (node.get("schema"), node.get("alias") or node.get("name")) if part)


def dbt_test_failure(unique_id: str, target_dir: Path, run_id: str) -> DbtTestFailure | None:
    """What a failing dbt test checked, from the artifacts of this run's dbt invocation."""
    for folder in _invocation_folders(target_dir, run_id):
        results = json.loads((folder / "run_results.json").read_text(encoding="utf-8"))
        result = next((r for r in results.get("results", []) if r.get("unique_id") == unique_id), None)
        # a build started by Dagster writes no manifest.json of its own (dagster_project/dbt_child.py):
        # its nodes are those of the project's manifest, which Dagster loaded
        manifest = next((m for m in (folder / "manifest.json", target_dir / "manifest.json") if m.is_file()), None)
        if result is None or manifest is None:
            continue
        nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"]
        test = nodes.get(unique_id, {})
        model = nodes.get(test.get("attached_node") or "", {})
        kind = (test.get("test_metadata") or {}).get("name") or test.get("name", unique_id)
        column = test.get("column_name")
        compiled = (result.get("compiled_code") or test.get("compiled_code") or "").strip().rstrip(";")
        if kind == "not_null" and model and column:
            # dbt's not_null selects only the (null) column: the rows themselves say more
            rows_sql = f"select * from {_relation(model)} where {quote(column)} is null limit {_SAMPLE_ROWS}"
        elif kind == "primary_key" and model and column and compiled:
            # the test selects each failing key value once (its `where` config applied): the model's
            # rows that have one say more, NULL first
            key = quote(column)
            rows_sql = (
                f"select m.* from {_relation(model)} m semi join ({compiled}) f on m.{key} is not distinct from "
                f"f.key_value order by m.{key} nulls first limit {_SAMPLE_ROWS}"
            )
        elif compiled:
            rows_sql = f"select * from ({compiled}) limit {_SAMPLE_ROWS}"
        else:
            rows_sql = ""
        return DbtTestFailure(test=kind, model=model.get("name"), column=column, rows_sql=rows_sql)
    return None


def _hidden_columns() -> list[str]:
    """Columns the snapshot hashes or drops (config/publish.yml): personal data, never printed."""
    from dagster_project.publish.snapshot import publish_config

    config = publish_config()
    return [*config["hash_columns"], *config["drop_columns"]]


def _cell(name: str, value: object, hidden: list[str]) -> str:
    if value is not None and any(re.fullmatch(p, name, flags=re.IGNORECASE) for p in hidden):
        return f"{name}=<hidden>"
    text = "NULL" if value is None else str(value)
    return f"{name}={text[:_CELL_CHARS] + '…' if len(text) > _CELL_CHARS else text}"


def failing_rows(con: duckdb.DuckDBPyConnection, failure: DbtTestFailure) -> list[str]:
    """Up to three failing rows, one `column=value, ...` line each (personal columns hidden)."""
    if not failure.rows_sql:
        return []
    cursor = con.execute(failure.rows_sql)
    names = [d[0] for d in cursor.description]
    hidden = _hidden_columns()
    return [", ".join(_cell(n, v, hidden) for n, v in zip(names, row, strict=True)) for row in cursor.fetchall()]


def dbt_failure_lines(evaluation, target_dir: Path, run_id: str, warehouse: Path) -> list[str]:
    """The lines under a failing dbt test: what it tests and a few of its failing rows."""
    unique_id = evaluation.metadata.get("unique_id")
    if unique_id is None or not str(unique_id.value).startswith("test."):
        return []
    failure = dbt_test_failure(str(unique_id.value), target_dir, run_id)
    if failure is None:
        return []
    what = f"model {failure.model}" if failure.model else "singular test"
    lines = [f"{what}" + (f", column {failure.column}" if failure.column else "") + f" ({failure.test})"]
    try:
        with open_warehouse(warehouse, read_only=True) as con:
            lines += [f"e.g. {row}" for row in failing_rows(con, failure)]
    except (duckdb.Error, WarehouseLocked) as exc:
        lines.append(f"(failing rows not shown: {_first_line(str(exc))})")
    return lines


# -- step failures: the root cause, in one line ------------------------------------------------


def dbt_errors(target_dir: Path, run_id: str, limit: int = 3) -> list[tuple[str, str]]:
    """(node, first line of its error) of the dbt nodes that errored in this run (a model that could
    not be built: disk full, bad SQL), from the invocation's run_results.json."""
    for folder in _invocation_folders(target_dir, run_id):
        results = json.loads((folder / "run_results.json").read_text(encoding="utf-8")).get("results", [])
        errored = [r for r in results if r.get("status") == "error"]
        return [(r["unique_id"].split(".", 2)[-1], _dbt_reason(r.get("message") or "")) for r in errored[:limit]]
    return []


def _dbt_reason(message: str) -> str:
    """dbt's error without its `Runtime Error in model x (path)` heading: the line that says why."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) > 1 and " Error in " in lines[0]:
        return lines[1]
    return lines[0] if lines else ""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.strip().splitlines() if line.strip()), "")


def _causes(error) -> Iterable:
    while error is not None:
        yield error
        error = error.cause or error.context


def root_message(error) -> str:
    """The message that says what went wrong (e.g. `No space left on device`), not the wrapper's."""
    if error is None:
        return ""
    messages = [_first_line(e.message) for e in _causes(error)]
    for message in messages:
        if "No space left on device" in message:
            return message
    return messages[-1] or messages[0]


# -- files of this run, and the audit totals ---------------------------------------------------


def _run_files(con: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    rows = con.execute(
        """
        select status, source_file, coalesce(rejected_reason, note) from meta.ingest_audit
        where run_id = ? and (status <> 'loaded' or note is not null)
        order by case status when 'rejected' then 0 when 'ignored' then 1 when 'duplicate' then 2 else 3 end,
                 source_file
        """,
        [run_id],
    ).fetchall()
    label = {"rejected": "REJECTED", "ignored": "ignored", "duplicate": "duplicate", "loaded": "warning"}
    return [f"  [{label.get(status, status)}] {f}: {reason}" for status, f, reason in rows]


def _print_ingestion(settings: Settings, run_id: str) -> None:
    if not settings.warehouse.exists():
        return
    try:
        with open_warehouse(settings.warehouse, read_only=True) as con:
            files = _run_files(con, run_id)
            drops, rejected, ignored, read, loaded, quarantined = (
                v or 0
                for v in con.execute(
                    "select count(*) filter (status in ('loaded', 'rejected')), count(*) filter (status = 'rejected'), "
                    "count(*) filter (status = 'ignored'), sum(rows_read), sum(rows_loaded), sum(rows_quarantined) "
                    "from meta.ingest_audit"
                ).fetchall()[0]
            )
    except (duckdb.Error, WarehouseLocked) as exc:
        print(f"ingest audit: not readable ({_first_line(str(exc))})")
        return
    if files:
        print("files of this run:")
        for line in files:
            print(line)
    print(
        f"ingest audit (all runs): {drops} drops ({rejected} files rejected, {ignored} ignored); "
        f"{read} rows read = {loaded} loaded + {quarantined} quarantined"
    )


def _unchanged(settings: Settings) -> dict | None:
    try:
        with open_warehouse(settings.warehouse, read_only=True) as con:
            return unchanged_snapshot(con, settings.bi_dir)
    except (duckdb.Error, WarehouseLocked):
        return None


def print_run_summary(
    settings: Settings,
    result: dg.ExecuteInProcessResult,
    seconds: float,
    dbt_target_dir: Path | None = None,
    log_path: Path | None = None,
    warnings: list[str] | None = None,
) -> bool:
    """Print the summary under its heading; True when the run published a snapshot, or the published
    one is current. `warnings` are the run's logged warnings, already grouped; `log_path` the run log."""
    if dbt_target_dir is None:
        from dagster_project.defs.dbt.assets import TARGET_DIR

        dbt_target_dir = TARGET_DIR
    print("\n== summary " + "=" * 60)
    try:
        return _print_summary(settings, result, seconds, dbt_target_dir, warnings or [])
    finally:
        if log_path is not None:
            print(f"full log (Dagster and dbt): {log_path}")


def _print_summary(
    settings: Settings, result: dg.ExecuteInProcessResult, seconds: float, dbt_target_dir: Path, log_warnings: list[str]
) -> bool:
    evaluations = result.get_asset_check_evaluations()
    failed = [e for e in evaluations if not e.passed]
    blocking = [e for e in failed if e.severity == dg.AssetCheckSeverity.ERROR]
    published = any(e.asset_key == SNAPSHOT_KEY for e in result.get_asset_materialization_events() if e.asset_key)
    print(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'} in {seconds:.1f}s")
    print(
        f"checks: {len(evaluations) - len(failed)} passed, {len(blocking)} failed (error), "
        f"{len(failed) - len(blocking)} failed (warn)"
    )
    for e in sorted(blocking, key=lambda e: e.check_name):
        print(f"  [ERROR] {e.asset_key.to_user_string()} {e.check_name}: {_describe(e)}")
        for line in dbt_failure_lines(e, dbt_target_dir, result.run_id, settings.warehouse):
            print(f"      {line}")
    warnings: dict[str, list] = {}
    for e in failed:
        if e.severity != dg.AssetCheckSeverity.ERROR:
            warnings.setdefault(_family(e.check_name), []).append(e)
    for family, items in sorted(warnings.items()):
        if len(items) <= 3:
            for e in items:
                print(f"  [warn] {e.asset_key.to_user_string()} {e.check_name}: {_describe(e)}")
        else:
            first = "; ".join(f"{e.asset_key.to_user_string()}: {_describe(e)}" for e in items[:2])
            print(f"  [warn] {family}: {len(items)} checks, e.g. {first}")
    for e in evaluations:  # the customer value model's own validation, passed or not (customer_value_validation)
        if e.check_name == "holdout_accuracy":
            print(f"  customer value model: {e.description}")
    for line in log_warnings:
        print(line)
    publish_error = None
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        error = event.step_failure_data.error
        if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
            continue  # its failed checks are listed above
        message = root_message(error)
        if error is not None and error.cls_name == "DagsterDbtCliRuntimeError":
            message = "dbt build failed"  # its own message is the command line; the nodes follow
        print(f"  step {event.step_key} failed: {message}")
        for node, node_message in dbt_errors(dbt_target_dir, result.run_id) if "dbt" in event.step_key else []:
            print(f"      {node}: {node_message}")
        if event.step_key == SNAPSHOT_KEY.to_python_identifier():
            publish_error = message

    _print_ingestion(settings, result.run_id)
    print(f"warehouse: {settings.warehouse.absolute()}")
    wal = settings.warehouse.with_name(settings.warehouse.name + ".wal")
    if not result.success and wal.exists():
        print(
            f"  {wal.name} holds committed changes not yet merged into the file (DuckDB merges it when the "
            "warehouse is next opened with disk space to spare): keep it"
        )
    unchanged = None
    if not published and not blocking and result.success and settings.warehouse.exists():
        unchanged = _unchanged(settings)
    if unchanged:
        print(
            f"nothing new since the BI snapshot {unchanged['snapshot_id']} (same drops, code and as-of date): "
            f"dbt build, quality validation and publish skipped; the snapshot is current: "
            f"{(settings.bi_dir / 'marts.duckdb').absolute()} (`run --force` rebuilds)"
        )
        return True
    if published:
        print(
            f"BI snapshot published: {(settings.bi_dir / 'marts.duckdb').absolute()} "
            f"(Parquet: {(settings.bi_dir / 'parquet').absolute()})"
        )
    else:
        if publish_error is not None:
            reason = f"the publish step failed: {publish_error}"
        elif blocking:
            reason = "blocking checks failed"
        else:
            reason = "the run did not reach the publish step"
        print(
            f"BI snapshot NOT published ({reason}); the previous snapshot, if any, is unchanged: "
            f"{(settings.bi_dir / 'marts.duckdb').absolute()}"
        )
    return published

"""The run history's storage (dagster_project/run_history.py): Dagster's SQLite files, each opened
once per process instead of once per event, and read the same by Dagster's own storage."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine

from dagster_project.run_history import KeptOpenSqliteEventLogStorage
from dagster_project.settings import DAGSTER_YAML, PLANNED_EVENTS_PER_BATCH, ensure_dagster_home

ASSETS = 12  # each with one check: a planned and a done event for each, plus the steps' own events


def _job() -> dg.JobDefinition:
    def make(i: int) -> dg.AssetsDefinition:
        @dg.asset(name=f"a{i}", check_specs=[dg.AssetCheckSpec("positive", asset=f"a{i}")])
        def _asset():
            yield dg.Output(i)
            yield dg.AssetCheckResult(passed=True, check_name="positive")

        return _asset

    return dg.Definitions(assets=[make(i) for i in range(ASSETS)]).resolve_implicit_global_asset_job_def()


class _SqliteOpens:
    """Counts SQLite connections opened on the files of one folder (SQLAlchemy's connect event)."""

    def __init__(self, folder: Path):
        self.folder, self.count = str(folder) + os.sep, 0  # not history/runs.db, the run storage

    def _on_connect(self, dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            files = [row[2] for row in dbapi_connection.execute("pragma database_list").fetchall()]
            self.count += any(f and f.startswith(self.folder) for f in files)

    def __enter__(self):
        event.listen(Engine, "connect", self._on_connect)
        return self

    def __exit__(self, *exc):
        event.remove(Engine, "connect", self._on_connect)


def _home(tmp_path: Path, monkeypatch, name: str, yaml_text: str | None) -> Path:
    home = tmp_path / name
    home.mkdir()
    if yaml_text is not None:
        (home / "dagster.yaml").write_text(yaml_text, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _run(home: Path) -> tuple[str, int]:
    """Runs the job on the instance of `home`; returns the run id and the SQLite files opened."""
    with dg.DagsterInstance.get() as instance, _SqliteOpens(home / "history" / "runs") as opens:
        result = _job().execute_in_process(instance=instance)
        assert result.success
    return result.run_id, opens.count


def _events(home: Path, run_id: str) -> list[tuple[str, str]]:
    """The run's events as Dagster's own default storage reads them from the files."""
    storage = DagsterSqliteStorage.from_local(str(home))
    try:
        records = storage.event_log_storage.get_records_for_run(run_id, limit=10_000).records
        return [(r.event_log_entry.dagster_event_type or "log", r.event_log_entry.step_key or "") for r in records]
    finally:
        storage.dispose()


def test_the_generated_dagster_yaml_uses_it_and_each_file_opens_once_per_run(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch, "kept", None)
    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, KeptOpenSqliteEventLogStorage)
    run_id, opens = _run(home)
    events = _events(home, run_id)
    kinds = [kind for kind, _ in events]
    assert kinds.count("ASSET_MATERIALIZATION") == ASSETS
    assert kinds.count("ASSET_CHECK_EVALUATION") == ASSETS
    assert kinds.count("ASSET_MATERIALIZATION_PLANNED") == ASSETS
    # The run's file and the cross-run index, each opened once, however many events were stored (and
    # Dagster's check for a table of the index, asked until it is there).
    assert len(events) > 10 * ASSETS
    assert opens <= 4, opens

    # Dagster's default storage, on the same job: one or more opens per stored event.
    default_home = _home(tmp_path, monkeypatch, "default", "telemetry:\n  enabled: false\n")
    default_run_id, default_opens = _run(default_home)
    assert default_opens >= len(_events(default_home, default_run_id))
    # The same events, whichever storage wrote them (the kept-open one writes Dagster's own tables).
    assert sorted(events) == sorted(_events(default_home, default_run_id))


def test_a_history_written_by_the_default_storage_reads_and_continues(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch, "home", "telemetry:\n  enabled: false\n")
    first_run, _ = _run(home)
    (home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    second_run, _ = _run(home)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, KeptOpenSqliteEventLogStorage)
        assert {r.run_id for r in instance.get_runs()} == {first_run, second_run}
        assert len(instance.event_log_storage.get_records_for_run(first_run, limit=10_000).records) == len(
            _events(home, first_run)
        )
        latest = instance.get_latest_materialization_event(dg.AssetKey("a3"))
        assert latest is not None and latest.run_id == second_run


def test_open_files_are_bounded_and_closed_before_a_wipe(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch, "home", DAGSTER_YAML)
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        run_ids = [_job().execute_in_process(instance=instance).run_id for _ in range(10)]
        assert 1 < len(storage._engines) <= 8  # the index and the newest runs
        assert run_ids[-1] in storage._engines and run_ids[0] not in storage._engines
        storage.wipe()
        assert set(storage._engines) <= {"index"}  # the run files it deleted are closed; the index stays
        assert not [p for p in (home / "history" / "runs").glob("*.db") if p.stem != "index"]
        assert _job().execute_in_process(instance=instance).success  # files reopen after a wipe


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        # what the version before the kept-open storage wrote (commit 1e3ef52, settings.DAGSTER_YAML)
        ("telemetry:\n  enabled: false\nconcurrency:\n  runs:\n    max_concurrent_runs: 1\n", False),
        ("telemetry:\n  enabled: false\n# edited by hand\n", True),
    ],
)
def test_an_earlier_generated_dagster_yaml_is_replaced_and_one_written_by_hand_is_kept(
    tmp_path, monkeypatch, written, kept
):
    home = _home(tmp_path, monkeypatch, "home", written)
    ensure_dagster_home()
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == (written if kept else DAGSTER_YAML)


def test_a_runs_planned_events_are_stored_as_one_batch_and_a_failed_batch_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(PLANNED_EVENTS_PER_BATCH))  # as Settings.export sets it
    batches: list[int] = []
    store_batch = KeptOpenSqliteEventLogStorage.store_event_batch

    def counted(self, events):
        batches.append(len(events))
        return store_batch(self, events)

    monkeypatch.setattr(KeptOpenSqliteEventLogStorage, "store_event_batch", counted)
    home = _home(tmp_path, monkeypatch, "batched", None)
    ensure_dagster_home()
    run_id, opens = _run(home)
    assert batches == [2 * ASSETS]  # a planned materialization and a planned check per asset, at once
    assert opens <= 4, opens
    batched = _events(home, run_id)

    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")  # one by one, as Dagster does by default
    single_home = _home(tmp_path, monkeypatch, "single", None)
    ensure_dagster_home()
    single_run_id, _ = _run(single_home)
    assert batches == [2 * ASSETS]
    assert sorted(batched) == sorted(_events(single_home, single_run_id))

    # A batch that fails half-way keeps none of its events; Dagster then stores them one by one,
    # so each planned event is there once (a batch that kept its first half would leave doubles).
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(PLANNED_EVENTS_PER_BATCH))
    store_event = KeptOpenSqliteEventLogStorage.store_event
    stored_in_batch = {"n": 0}

    def fails_once_in_a_batch(self, event):
        if self._batch is not None:
            stored_in_batch["n"] += 1
            if stored_in_batch["n"] == ASSETS:
                raise RuntimeError("disk full")
        return store_event(self, event)

    monkeypatch.setattr(KeptOpenSqliteEventLogStorage, "store_event", fails_once_in_a_batch)
    failing_home = _home(tmp_path, monkeypatch, "failing", None)
    ensure_dagster_home()
    failed_run_id, _ = _run(failing_home)
    kinds = [kind for kind, _ in _events(failing_home, failed_run_id)]
    assert stored_in_batch["n"] == ASSETS
    assert kinds.count("ASSET_MATERIALIZATION_PLANNED") == ASSETS
    assert kinds.count("ASSET_CHECK_EVALUATION_PLANNED") == ASSETS
    with dg.DagsterInstance.get() as instance:  # the cross-run index too: one planned check per check
        planned = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("a3"), "positive"), limit=10
        )
        assert len(planned) == 1

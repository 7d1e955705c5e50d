"""Schedule and sensor: the daily refresh, new drops triggering their entity and downstream, and no
run at all when there is nothing new (so the UI keeps the checks' last real results)."""

import dagster as dg
import pytest
from conftest import csv_text, write_drop

from dagster_project.alerts.delivery import deliver, published_alerts
from dagster_project.alerts.notify import build_notifiers
from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity
from dagster_project.publish.fingerprint import inputs_fingerprint
from dagster_project.publish.snapshot import publish_snapshot

FX = load_contracts()["erp.fx_rates"]
HEADER = list(FX.column_names)


def fx_drop(raw_dir, name: str, day: str, rate: str) -> None:
    write_drop(raw_dir, "erp.fx_rates", name, csv_text(HEADER, [[day, "USD", rate, ""][: len(HEADER)]]))


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:  # on disk: schedule contexts reopen it by reference
        yield test_instance


@pytest.fixture
def repo():
    from dagster_project.definitions import defs

    return defs.get_repository_def()


def published_warehouse(con, raw_dir, tmp_path) -> None:
    """One fx drop loaded, and a snapshot built from exactly it (with one alert, delivered)."""
    fx_drop(raw_dir, "fx_rates_2025-01-31.csv", "2025-01-31", "7.1")
    load_entity(con, FX, raw_dir)
    con.execute("create schema marts")
    con.execute(
        "create table marts.alerts as select 'annual_churn' as rule_code, 'critical' as severity, '华北' as subject, "
        "'2026-10-30' as period, 'Churn 19%' as message, '流失率 19%' as message_zh"
    )
    bi = tmp_path / "warehouse" / "bi"
    publish_snapshot(con, bi, run_id="r1", inputs_fingerprint=inputs_fingerprint(con))
    deliver(con, published_alerts(bi), build_notifiers(tmp_path / "warehouse"))
    con.close()


def test_daily_schedule_runs_at_six_shanghai():
    from dagster_project.schedules import daily_refresh

    assert daily_refresh.cron_schedule == "0 6 * * *"
    assert daily_refresh.execution_timezone == "Asia/Shanghai"
    assert daily_refresh.job_name == "refresh_warehouse"


def test_sensor_requests_the_new_entity_and_its_downstream(raw_dir, instance, repo):
    from dagster_project.sensors import new_drops_sensor

    fx_drop(raw_dir, "fx_rates_2025-01-31.csv", "2025-01-31", "7.1")

    first = new_drops_sensor(dg.build_sensor_context(instance=instance, repository_def=repo))
    assert isinstance(first, dg.RunRequest)  # no warehouse yet: a run decides
    assert dg.AssetKey(["raw_erp", "fx_rates"]) in first.asset_selection
    assert dg.AssetKey(["bi", "marts_snapshot"]) in first.asset_selection  # downstream reaches the publish step
    assert dg.AssetKey(["raw_crm", "leads"]) not in first.asset_selection  # other entities are not reloaded

    context = dg.build_sensor_context(instance=instance, repository_def=repo)
    new_drops_sensor(context)
    cursor = context.cursor
    again = new_drops_sensor(dg.build_sensor_context(instance=instance, repository_def=repo, cursor=cursor))
    assert isinstance(again, dg.SkipReason)

    fx_drop(raw_dir, "fx_rates_2025-02-28.csv", "2025-02-28", "7.2")
    second = new_drops_sensor(dg.build_sensor_context(instance=instance, repository_def=repo, cursor=cursor))
    assert isinstance(second, dg.RunRequest)
    assert second.tags["s2s/entities"] == "erp.fx_rates"
    assert second.run_key != first.run_key


def test_the_sensors_first_tick_after_install_starts_no_run_when_nothing_is_new(con, raw_dir, tmp_path, instance, repo):
    from dagster_project.sensors import new_drops_sensor

    published_warehouse(con, raw_dir, tmp_path)

    context = dg.build_sensor_context(instance=instance, repository_def=repo)  # no cursor: the first tick
    first = new_drops_sensor(context)

    assert isinstance(first, dg.SkipReason)
    assert "nothing new: the files of erp.fx_rates are loaded and the snapshot" in first.skip_message
    assert context.cursor  # remembered: the next tick compares with these files
    fx_drop(raw_dir, "fx_rates_2025-02-28.csv", "2025-02-28", "7.2")
    new = new_drops_sensor(dg.build_sensor_context(instance=instance, repository_def=repo, cursor=context.cursor))
    assert isinstance(new, dg.RunRequest) and new.tags["s2s/entities"] == "erp.fx_rates"


def test_ticks_do_not_open_the_warehouse_while_a_run_is_in_flight(con, raw_dir, tmp_path, instance, repo):
    from dagster_project.schedules import daily_refresh
    from dagster_project.sensors import new_drops_sensor

    published_warehouse(con, raw_dir, tmp_path)
    instance.add_run(dg.DagsterRun(job_name="refresh_warehouse", run_id="busy-run", status=dg.DagsterRunStatus.STARTED))
    # the warehouse is gone: a tick that opened it would find "no warehouse" and request a run
    (tmp_path / "warehouse" / "warehouse.duckdb").rename(tmp_path / "moved.duckdb")

    context = dg.build_sensor_context(instance=instance, repository_def=repo)
    tick = new_drops_sensor(context)
    assert isinstance(tick, dg.SkipReason) and "run busy-run is queued or running" in tick.skip_message
    assert context.cursor is None  # looked at again after the run
    scheduled = daily_refresh(dg.build_schedule_context(instance=instance))
    assert isinstance(scheduled, dg.SkipReason) and "busy-run" in scheduled.skip_message


def test_the_schedule_skips_when_nothing_is_new_and_runs_when_something_is(con, raw_dir, tmp_path, instance):
    from dagster_project.schedules import daily_refresh

    published_warehouse(con, raw_dir, tmp_path)

    idle = daily_refresh(dg.build_schedule_context(instance=instance))
    assert isinstance(idle, dg.SkipReason) and idle.skip_message.startswith("nothing new since the snapshot")

    fx_drop(raw_dir, "fx_rates_2025-02-28.csv", "2025-02-28", "7.2")
    busy = daily_refresh(dg.build_schedule_context(instance=instance))
    assert isinstance(busy, dg.RunRequest) and busy.asset_selection is None  # the whole job


def test_the_schedule_retries_failed_alert_deliveries_with_the_alerts_step_only(
    con, raw_dir, tmp_path, instance, monkeypatch
):
    from dagster_project.schedules import daily_refresh

    published_warehouse(con, raw_dir, tmp_path)
    monkeypatch.setenv("S2S_FEISHU_WEBHOOK_URL", "http://127.0.0.1:9/hook")  # a robot that got nothing yet

    retry = daily_refresh(dg.build_schedule_context(instance=instance))

    assert isinstance(retry, dg.RunRequest)
    assert retry.asset_selection == [dg.AssetKey(["meta", "alerts_sent"])]
    assert retry.tags["s2s/trigger"] == "alert_retry"

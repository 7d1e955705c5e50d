"""Schedule and sensor: the daily refresh, and new drops triggering their entity and downstream."""

import dagster as dg
from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts


def test_daily_schedule_runs_at_six_shanghai():
    from dagster_project.schedules import daily_refresh

    assert daily_refresh.cron_schedule == "0 6 * * *"
    assert daily_refresh.execution_timezone == "Asia/Shanghai"
    assert daily_refresh.job_name == "refresh_warehouse"


def test_sensor_requests_the_new_entity_and_its_downstream(raw_dir):
    from dagster_project.definitions import defs
    from dagster_project.sensors import new_drops_sensor

    header = list(load_contracts()["erp.fx_rates"].column_names)
    write_drop(raw_dir, "erp.fx_rates", "fx_rates_2025-01-31.csv", csv_text(header, [["2025-01-31", "USD", "7.1"]]))
    repo = defs.get_repository_def()

    first = new_drops_sensor(dg.build_sensor_context(repository_def=repo))
    assert isinstance(first, dg.RunRequest)
    assert dg.AssetKey(["raw_erp", "fx_rates"]) in first.asset_selection
    assert dg.AssetKey(["bi", "marts_snapshot"]) in first.asset_selection  # downstream reaches the publish step
    assert dg.AssetKey(["raw_crm", "leads"]) not in first.asset_selection  # other entities are not reloaded

    context = dg.build_sensor_context(repository_def=repo)
    new_drops_sensor(context)
    cursor = context.cursor
    assert isinstance(new_drops_sensor(dg.build_sensor_context(repository_def=repo, cursor=cursor)), dg.SkipReason)

    write_drop(raw_dir, "erp.fx_rates", "fx_rates_2025-02-28.csv", csv_text(header, [["2025-02-28", "USD", "7.2"]]))
    second = new_drops_sensor(dg.build_sensor_context(repository_def=repo, cursor=cursor))
    assert isinstance(second, dg.RunRequest)
    assert second.tags["s2s/entities"] == "erp.fx_rates"
    assert second.run_key != first.run_key

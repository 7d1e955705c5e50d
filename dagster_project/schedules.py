"""When the warehouse refreshes on its own: every morning, if there is anything to do."""

import dagster as dg

from dagster_project.automation import idle, run_in_flight
from dagster_project.defs.alerts.assets import ALERTS_SENT_KEY
from dagster_project.jobs import refresh_job
from dagster_project.settings import Settings
from dagster_project.warehouse import TIME_ZONE


@dg.schedule(
    name="daily_refresh",
    job=refresh_job,
    cron_schedule="0 6 * * *",  # 06:00 every day in the warehouse's time zone: fresh for the morning
    execution_timezone=TIME_ZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_refresh(context: dg.ScheduleEvaluationContext):
    """The whole job when anything is new; only the alerts step when nothing is new but some alert
    deliveries failed before; else no run (the checks keep their last real result)."""
    busy = run_in_flight(context.instance)
    if busy:
        return dg.SkipReason(f"run {busy} is queued or running: it refreshes the warehouse")
    nothing = idle(Settings.from_env())
    if nothing is None:
        return dg.RunRequest(tags={"s2s/trigger": "daily"})
    if nothing.pending_alerts:
        return dg.RunRequest(asset_selection=[ALERTS_SENT_KEY], tags={"s2s/trigger": "alert_retry"})
    return dg.SkipReason(f"nothing new since the snapshot {nothing.snapshot_id}: no run")

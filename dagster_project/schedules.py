"""When the warehouse refreshes on its own."""

import dagster as dg

from dagster_project.jobs import refresh_job

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=refresh_job,
    cron_schedule="0 6 * * *",  # 06:00 every day, Asia/Shanghai: the marts are fresh for the morning
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

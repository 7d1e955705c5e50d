"""What the schedule and the sensor decide before they start a run: is there anything to do?

A tick with nothing new starts no run (it returns a skip reason): a run that would only skip dbt,
the checks and the publish would leave every check "skipped" in the UI and the snapshot "stale",
although it is current. To know, the tick opens the warehouse read-only, but only when no run is
queued or running: a run holds DuckDB's single write lock, and a reader would block its next step.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from dagster_project.settings import Settings

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def run_in_flight(instance: dg.DagsterInstance) -> str | None:
    """The id of a run that is queued or running (and may hold the warehouse), if any."""
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=IN_FLIGHT), limit=1)
    return records[0].dagster_run.run_id if records else None


@dataclass
class Idle:
    """Nothing new since the published snapshot; `pending_alerts` deliveries still to retry."""

    snapshot_id: str
    pending_alerts: int


def idle(settings: Settings) -> Idle | None:
    """Idle when no raw file is new and the snapshot was built from the same inputs; None when in
    doubt (no snapshot, no warehouse, or another process holds it): then a run decides."""
    from dagster_project.alerts.delivery import pending_deliveries
    from dagster_project.alerts.notify import alerts_config, build_notifiers
    from dagster_project.publish.fingerprint import nothing_new
    from dagster_project.warehouse import open_warehouse

    current = nothing_new(settings.warehouse, settings.raw_dir, settings.bi_dir)
    if not current:
        return None
    pending = 0
    if alerts_config().get("send_once", True):
        notifiers = build_notifiers(settings.warehouse.parent)
        try:
            with open_warehouse(settings.warehouse, read_only=True) as con:
                pending = pending_deliveries(con, settings.bi_dir, notifiers)
        except Exception:  # noqa: BLE001 - another process took the warehouse meanwhile: a run decides
            return None
    return Idle(current["snapshot_id"], pending)

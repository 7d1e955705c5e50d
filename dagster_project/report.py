"""What a run prints at the end: where the warehouse is and what ingestion accounted for."""

from __future__ import annotations

from dagster_project.settings import Settings
from dagster_project.warehouse import open_warehouse


def print_run_summary(settings: Settings) -> None:
    if not settings.warehouse.exists():
        print(f"no warehouse at {settings.warehouse}")
        return
    with open_warehouse(settings.warehouse, read_only=True) as con:
        rows = con.execute(
            """
            select count(*) as drops, count(*) filter (status = 'rejected') as rejected,
                   sum(rows_read), sum(rows_loaded), sum(rows_quarantined)
            from meta.ingest_audit
            """
        ).fetchall()[0]
    drops, rejected, read, loaded, quarantined = (v or 0 for v in rows)
    print(f"warehouse: {settings.warehouse}")
    print(
        f"ingest audit (all runs): {drops} drops ({rejected} files rejected), {read} rows read = "
        f"{loaded} loaded + {quarantined} quarantined"
    )

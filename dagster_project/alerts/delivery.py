"""Which alerts go out, and to whom: the alerts of the published BI snapshot, each delivered once per
notifier, remembered per notifier in `meta.alert_deliveries` of the warehouse.

Alerts are read from the published snapshot, never from the working warehouse: the alerts of a run
whose blocking checks stopped the publish are not sent (the marts they come from were not vouched for).
A notifier that fails keeps its undelivered alerts pending; the next run sends them again, and the
failure is reported (the `alerts_delivered` check). One notifier failing does not stop the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.alerts.notify import NamedNotifier
from dagster_project.publish.snapshot import SNAPSHOT_FILE, publish_config
from dagster_project.warehouse import insert_rows, literal

DELIVERIES_DDL = """
create schema if not exists meta;
create table if not exists meta.alert_deliveries (
    alert_key varchar not null,     -- rule_code|subject|period
    notifier varchar not null,      -- the notifier's name in config/alerts.yml
    delivered_at timestamp not null,
    primary key (alert_key, notifier)
);
"""


def alert_key(alert: dict[str, Any]) -> str:
    return f"{alert['rule_code']}|{alert.get('subject') or ''}|{alert.get('period') or ''}"


def published_alerts(bi_dir: Path) -> list[dict[str, Any]]:
    """The rows of `alerts` in the published snapshot (none when nothing is published yet)."""
    database = bi_dir / SNAPSHOT_FILE
    if not database.is_file():
        return []
    con = duckdb.connect()
    try:
        con.execute(f"attach {literal(str(database))} as published (read_only)")
        schema = publish_config()["schema"]
        cursor = con.execute(f"select * from published.{schema}.alerts order by severity, rule_code, subject, period")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    query = (
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?"
    )
    return con.execute(query, [schema, table]).fetchall()[0][0] > 0


def ensure_deliveries(con: duckdb.DuckDBPyConnection) -> None:
    """Create meta.alert_deliveries; alerts that an older version recorded as sent (meta.alerts_sent,
    when only the log and jsonl notifiers existed) count as delivered by those two."""
    if _has_table(con, "meta", "alert_deliveries"):
        return
    con.execute(DELIVERIES_DDL)
    if _has_table(con, "meta", "alerts_sent"):
        con.execute(
            "insert or ignore into meta.alert_deliveries "
            "select alert_key, notifier, coalesce(sent_at, now()::timestamp) "
            "from meta.alerts_sent cross join (values ('log'), ('jsonl')) as n(notifier)"
        )


def undelivered(
    con: duckdb.DuckDBPyConnection, alerts: list[dict[str, Any]], notifier: str, send_once: bool = True
) -> list[dict[str, Any]]:
    """The alerts `notifier` has not delivered yet (all of them when send_once is off)."""
    ensure_deliveries(con)
    if not send_once:
        return alerts
    done = {
        r[0]
        for r in con.execute("select alert_key from meta.alert_deliveries where notifier = ?", [notifier]).fetchall()
    }
    return [a for a in alerts if alert_key(a) not in done]


def record_delivered(con: duckdb.DuckDBPyConnection, alerts: list[dict[str, Any]], notifier: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    insert_rows(
        con,
        "insert or ignore into meta.alert_deliveries values (?, ?, ?)",
        [[alert_key(a), notifier, now] for a in alerts],
    )


@dataclass
class DeliveryReport:
    notifier: str
    delivered: int
    pending: int  # still undelivered after this run (retried next run)
    error: str | None = None


def deliver(
    con: duckdb.DuckDBPyConnection,
    alerts: list[dict[str, Any]],
    notifiers: list[NamedNotifier],
    *,
    send_once: bool = True,
    per_message: int = 10,
) -> list[DeliveryReport]:
    """Send each notifier its undelivered alerts, `per_message` to a message; record each message's
    alerts as delivered once its notifier took it. On a failure the notifier's remaining alerts stay
    pending and the next notifier goes on."""
    reports = []
    for named in notifiers:
        todo = undelivered(con, alerts, named.name, send_once)
        sent, error = 0, None
        for start in range(0, len(todo), per_message):
            batch = todo[start : start + per_message]
            try:
                named.notifier.send(batch)
            except Exception as exc:  # noqa: BLE001 - a notifier may fail any way; the alerts stay pending
                error = f"{type(exc).__name__}: {exc}"
                break
            record_delivered(con, batch, named.name)
            sent += len(batch)
        reports.append(DeliveryReport(named.name, sent, len(todo) - sent, error))
    return reports


def pending_deliveries(con: duckdb.DuckDBPyConnection, bi_dir: Path, notifiers: list[NamedNotifier]) -> int:
    """How many (alert, notifier) deliveries of the published alerts are still to make (send-once mode)."""
    alerts = published_alerts(bi_dir)
    if not alerts or not notifiers:
        return 0
    try:
        done = set(con.execute("select alert_key, notifier from meta.alert_deliveries").fetchall())
    except duckdb.CatalogException:  # nothing delivered yet
        done = set()
    return sum((alert_key(a), n.name) not in done for a in alerts for n in notifiers)


def deliver_published_alerts(
    con: duckdb.DuckDBPyConnection, warehouse_dir: Path, bi_dir: Path
) -> tuple[list[dict[str, Any]], list[DeliveryReport]]:
    """The published alerts, and what each configured notifier delivered of them (config/alerts.yml)."""
    from dagster_project.alerts.notify import alerts_config, build_notifiers

    config = alerts_config()
    alerts = published_alerts(bi_dir)
    reports = deliver(
        con,
        alerts,
        build_notifiers(warehouse_dir),
        send_once=config.get("send_once", True),
        per_message=config.get("alerts_per_message", 10),
    )
    return alerts, reports


def retry_undelivered(warehouse: Path, bi_dir: Path) -> list[DeliveryReport]:
    """When a run has nothing new to build: send what earlier runs failed to deliver (a no-op when
    nothing is pending). Reports only the notifiers that had something to send."""
    from dagster_project.warehouse import open_warehouse

    with open_warehouse(warehouse) as con:
        _, reports = deliver_published_alerts(con, warehouse.parent, bi_dir)
    return [r for r in reports if r.delivered or r.pending]

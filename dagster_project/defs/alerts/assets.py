"""Send the alerts of the published BI snapshot through the configured notifiers."""

from pathlib import Path

import dagster as dg

from dagster_project.alerts.delivery import deliver_published_alerts
from dagster_project.defs.publish.assets import SNAPSHOT_KEY
from dagster_project.resources import WarehouseResource

ALERTS_SENT_KEY = dg.AssetKey(["meta", "alerts_sent"])


@dg.asset(
    key=ALERTS_SENT_KEY,
    group_name="alerts",
    kinds={"duckdb"},
    # downstream of the publish step: a run whose blocking checks stop the publish sends nothing
    deps=[SNAPSHOT_KEY],
    description="Alerts of the published snapshot sent through the notifiers (log, JSONL, WeCom, DingTalk, Feishu, "
    "email), each once per notifier.",
    check_specs=[
        dg.AssetCheckSpec(
            "alerts_delivered",
            asset=ALERTS_SENT_KEY,
            description="Every notifier delivered every published alert (a failed one is retried next run).",
        )
    ],
)
def alerts_sent(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.connect() as con:
        alerts, reports = deliver_published_alerts(con, Path(warehouse.path).parent, Path(warehouse.bi_dir))
    failed = [r for r in reports if r.error]
    for r in failed:
        context.log.error(f"alerts to {r.notifier}: {r.pending} not delivered ({r.error}); retried next run")
    context.log.info(
        f"{len(alerts)} published alerts; delivered: "
        + (", ".join(f"{r.notifier} {r.delivered}" for r in reports) or "no notifier on")
    )
    yield dg.MaterializeResult(
        asset_key=ALERTS_SENT_KEY,
        metadata={
            "published_alerts": len(alerts),
            "notifiers": ", ".join(r.notifier for r in reports) or "none",
            "delivered": sum(r.delivered for r in reports),
            "pending": sum(r.pending for r in reports),
            "by_rule": ", ".join(sorted({a["rule_code"] for a in alerts})) or "none",
        },
    )
    yield dg.AssetCheckResult(
        check_name="alerts_delivered",
        asset_key=ALERTS_SENT_KEY,
        passed=not failed,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(f"{r.notifier}: {r.pending} alerts not delivered ({r.error})" for r in failed)
        or f"{sum(r.delivered for r in reports)} deliveries, none pending",
    )

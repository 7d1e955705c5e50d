"""Send the new rows of marts.alerts through the configured notifiers."""

from pathlib import Path

import dagster as dg

from dagster_project.alerts.notify import alerts_config, build_notifiers, mark_sent, pending_alerts
from dagster_project.resources import WarehouseResource

ALERTS_MART_KEY = dg.AssetKey(["marts", "alerts"])


@dg.asset(
    key=dg.AssetKey(["meta", "alerts_sent"]),
    group_name="alerts",
    kinds={"duckdb"},
    deps=[ALERTS_MART_KEY],
    description="Alerts of marts.alerts sent through the notifiers (log, JSON lines, ...), each once.",
)
def alerts_sent(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        alerts = pending_alerts(con, send_once=alerts_config().get("send_once", True))
        for notifier in build_notifiers(Path(warehouse.path).parent):
            notifier.send(alerts)
        mark_sent(con, alerts)
    context.log.info(f"{len(alerts)} new alerts sent")
    return dg.MaterializeResult(
        metadata={
            "alerts_sent": len(alerts),
            "by_rule": ", ".join(sorted({a["rule_code"] for a in alerts})) or "none",
        }
    )

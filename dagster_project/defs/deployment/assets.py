"""The deployment's policy in the warehouse: `meta.field_policy`, through which dbt reads it."""

import dagster as dg

from dagster_project.deployment import load_policy, write_field_policy
from dagster_project.resources import WarehouseResource

FIELD_POLICY_KEY = dg.AssetKey(["meta", "field_policy"])


@dg.asset(
    key=FIELD_POLICY_KEY,
    group_name="deployment",
    kinds={"duckdb"},
    description="Per contract column: critical, delivered, collected, target and severity under the deployment's "
    "policy.yml (the one place dbt's alert rule and scorecard KPI read them from).",
)
def field_policy(warehouse: WarehouseResource) -> dg.MaterializeResult:
    policy = load_policy()
    with warehouse.connect() as con:
        write_field_policy(con, policy)
        rows, critical, not_collected = con.execute(
            "select count(*), count(*) filter (is_critical), count(*) filter (is_critical and not is_collected) "
            "from meta.field_policy"
        ).fetchall()[0]
    return dg.MaterializeResult(
        metadata={
            "policy_file": str(policy.path) if policy.path else "none (everything delivered and collected)",
            "columns": rows,
            "critical_fields": critical,
            "critical_fields_not_collected": not_collected,
            "entities_not_delivered": ", ".join(sorted(policy.not_delivered)) or "none",
        }
    )

# dagster-dbt is imported here, before any module of this package, without dbt-core (without_dbt_core.py)
from dagster_project.defs.dbt.without_dbt_core import import_dagster_dbt_without_dbt_core

import_dagster_dbt_without_dbt_core()

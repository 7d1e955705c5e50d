"""S2S Warehouse: strategy-to-sales analytics on DuckDB, orchestrated by Dagster, modelled in dbt."""

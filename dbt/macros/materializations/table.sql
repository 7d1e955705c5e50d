{#
    Tables in one statement: `create or replace table`, atomic in DuckDB, so a model that fails
    leaves its table as it was. dbt-duckdb's own materialization builds the table under a temporary
    name, looks up its indexes, renames the old table away and the new one in, and drops the old one:
    seven statements with `BEGIN` and `COMMIT`, against three, each costing dbt's Python more than
    DuckDB's work on a small company.
    What a single statement cannot do goes to dbt-duckdb's own: Python models, a model contract,
    a SQL header, partitions or sort keys, indexes, grants, an existing table with key constraints,
    a DuckLake database, or an existing view of the same name. DECISIONLOG.md, "Tables and views
    in one statement".
#}
{% materialization table, adapter="duckdb", supported_languages=['sql', 'python'] %}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- if model['language'] != 'sql'
        or config.get('contract').enforced
        or config.get('sql_header') is not none
        or config.get('partitioned_by') or config.get('partition_by')
        or config.get('sorted_by') or config.get('sort_by')
        or config.get('indexes') or config.get('grants')
        or adapter.is_ducklake(this)
        or (existing_relation is not none and not existing_relation.is_table)
        or existing_constraint_types(existing_relation) -%}
    {{ return(dbt.materialization_table_duckdb()) }}
  {%- endif -%}
  {{ return(replace_in_one_statement(this.incorporate(type='table'), compiled_code)) }}
{% endmaterialization %}

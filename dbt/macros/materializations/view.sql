{#
    Views in one statement: `create or replace view`, atomic in DuckDB (dbt's own materialization
    creates the view under a temporary name, renames the old one away and the new one in, and drops
    the old one). What a single statement cannot do goes to dbt's own: a model contract, a SQL
    header, grants, a DuckLake database, or an existing table of the same name. DECISIONLOG.md,
    "Tables and views in one statement".
#}
{% materialization view, adapter="duckdb" %}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- if config.get('contract').enforced
        or config.get('sql_header') is not none
        or config.get('grants')
        or adapter.is_ducklake(this)
        or (existing_relation is not none and not existing_relation.is_view) -%}
    {{ return(dbt.materialization_view_default()) }}
  {%- endif -%}
  {{ return(replace_in_one_statement(this.incorporate(type='view'), sql)) }}
{% endmaterialization %}

{#
    Data tests without a transaction: a test only reads, and dbt's own materialization opens a
    transaction for its query (`BEGIN`) that dbt then rolls back when it releases the connection:
    two calls through dbt's adapter per test besides the query. A test that stores its failures
    writes a table, and goes to dbt's own.
    DECISIONLOG.md, "Tables and views in one statement".
#}
{% materialization test, adapter="duckdb" %}
  {%- if should_store_failures() or (flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS and config.get('sql_header')) -%}
    {{ return(dbt.materialization_test_default()) }}
  {%- endif -%}
  {% call statement('main', fetch_result=True, auto_begin=False) -%}
    {{ get_test_sql(get_limit_subquery_sql(sql, config.get('limit')), config.get('fail_calc'), config.get('warn_if'), config.get('error_if'), limit=none) }}
  {%- endcall %}
  {{ return({'relations': []}) }}
{% endmaterialization %}

{#-
    export_for_python_steps(): a post-hook that copies the model just built to Parquet in the dbt
    invocation's target folder (`<target>/<model>.parquet`).

    DuckDB lets one process open the warehouse file, and during a build that is dbt. The customer
    value model (dagster_project/customer_value/worker.py) needs only two small models of the build,
    int_orders_aggregated_from_lines and int_as_of_date: with them as files, it fits in a worker
    process on the other core while dbt builds on, instead of after the build. The Dagster step
    tells the worker to fit when dbt reports both models built (their hooks ran by then). The target
    folder exists during every dbt build, and the copy is small (scale 10: 235 k orders).
-#}
{% macro export_for_python_steps() -%}
    {%- set folder = (flags.TARGET_PATH or 'target') | string -%}
    copy (select * from {{ this }}) to '{{ (folder ~ "/" ~ this.identifier ~ ".parquet") | replace("'", "''") }}'
        (format parquet)
{%- endmacro %}

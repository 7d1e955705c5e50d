{#
    The body of the project's `table` and `view` materializations: the model's hooks around one
    `create or replace <kind>` in its transaction, and its comments, in the order of the
    materialization it replaces (dbt-duckdb's table: post-hooks, then comments; dbt's view:
    comments, then post-hooks, so that a hook's comment stands). A relation left under a temporary
    or backup name by a build of dbt's own that was stopped is dropped first, as dbt's own do.
    DECISIONLOG.md, "Tables and views in one statement".
#}
{% macro replace_in_one_statement(target_relation, compiled_sql) %}
  {{ drop_relation_if_exists(load_cached_relation(make_intermediate_relation(target_relation))) }}
  {{ drop_relation_if_exists(load_cached_relation(make_backup_relation(target_relation, target_relation.type))) }}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {% call statement('main') -%}
    create or replace {{ target_relation.type }} {{ target_relation }} as (
      {{ compiled_sql }}
    );
  {%- endcall %}
  {% if target_relation.is_view %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% else %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do persist_docs(target_relation, model) %}
  {% endif %}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmacro %}

{#
    The body of the project's `table` and `view` materializations: the model's hooks around one
    `create or replace <kind>` in its transaction, then its comments. DECISIONLOG.md, "Tables and
    views in one statement".
#}
{% macro replace_in_one_statement(target_relation, compiled_sql) %}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {% call statement('main') -%}
    create or replace {{ target_relation.type }} {{ target_relation }} as (
      {{ compiled_sql }}
    );
  {%- endcall %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmacro %}

{#-
    field_cells(entity, cte, key): one row per record x column of a CRM table (entity, record id,
    field, is_filled), every column but the key, so that meta.field_policy decides at run time
    which fields count (critical in the contract, collected by the deployment) and with which
    target: no column list is repeated here. `cte` is a CTE or relation holding the entity's rows.
-#}
{% macro field_cells(entity, cte, key) %}
    select
        '{{ entity }}' as entity,
        unpivoted.record_id,
        unpivoted.field,
        unpivoted.field_value is not null as is_filled,
    from (
        select
            {{ key }} as record_id,
            columns(* exclude ({{ key }}))::varchar,
        from {{ cte }}
    ) unpivot include nulls (field_value for field in (columns(* exclude (record_id)))) as unpivoted
{% endmacro %}

{#-
    dbt's `unique`, limited to the keys of the rows loaded since the last passing build: a key that
    occurs more than once is returned if one of its rows was loaded at or after
    meta.key_check_window.since. The new row is compared with every row, old ones included; rows
    loaded before were checked by that build, and a row changes only by being loaded again (its
    load time moves). Without a window (NULL: the first build, a forced run, changed dbt code, or
    dbt run by hand) every key is checked, as `unique` does. The window is written by the Dagster
    dbt step (dagster_project/dbt_key_checks.py); see DECISIONLOG.md, "Key tests on new rows".
-#}
{% test unique_keys_of_new_rows(model, column_name, loaded_at='_loaded_at') %}

with

key_check_window as (

    select max(since) as since from meta.key_check_window

),

checked as (

    select {{ column_name }} as unique_field
    from {{ model }}
    where {{ column_name }} is not null
        and (
            (select since from key_check_window) is null
            or {{ column_name }} in (
                select {{ column_name }} from {{ model }}
                where {{ loaded_at }} >= (select since from key_check_window)
            )
        )

)

select
    unique_field,
    count(*) as n_records,
from checked
group by unique_field
having count(*) > 1

{% endtest %}

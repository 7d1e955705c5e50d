{#- The column is the model's key: fails on each value shared by two rows or more, and on NULL (once,
    however many rows have it). dbt's `unique` and `not_null` in one query and one node: a test costs
    dbt and Dagster ~60 ms of Python on a 2-core machine, more than its query on a small company. -#}
{% test primary_key(model, column_name) %}
select
    {{ column_name }} as key_value,
    count(*) as n_rows
from {{ model }}
group by {{ column_name }}
having {{ column_name }} is null or count(*) > 1
{% endtest %}

{#-
    Lists every record whose duration lies outside var duration_bounds[kind] (negative, or longer
    than the configured maximum): such durations are left out of the averages of the marts (macro
    plausible_duration). `duration` is a column or an expression over the model's columns;
    `record_id` names the record. Run with severity warn: the records are reported, not blocking.
-#}
{% test duration_is_plausible(model, duration, kind, record_id) %}
{%- set bounds = var('duration_bounds')[kind] %}

select
    cast({{ record_id }} as varchar) as record_id,
    '{{ kind }}' as duration_kind,
    {{ duration }} as duration_value,
    {{ bounds['min'] }} as min_allowed,
    {{ bounds['max'] }} as max_allowed,
from {{ model }}
where {{ duration }} is not null
    and not {{ plausible_duration(duration, kind) }}

{% endtest %}

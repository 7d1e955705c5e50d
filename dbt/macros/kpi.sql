{#-
    The rules every KPI and mart shares, in one place.

    ratio(numerator, denominator): a share or rate. A positive denominator gives a number, 0 included
    (no qualifying rows = 0); no positive denominator gives null ("no data": nothing to measure).

    delivered(entities): true when every listed extract entity ('<source>.<entity>') is delivered
    (int_entities_delivered), so a mart or an alert built on an entity that was never delivered
    stays empty instead of reading "0".

    plausible_duration(expression, kind): the duration lies within var duration_bounds[kind]
    (inclusive). Durations outside are left out of averages and listed by the
    duration_is_plausible warn test.
-#}
{% macro ratio(numerator, denominator) -%}
    case when ({{ denominator }}) > 0 then coalesce({{ numerator }}, 0) / ({{ denominator }}) end
{%- endmacro %}

{% macro delivered(entities) -%}
    {%- if not entities %}true{% else -%}
    coalesce((
        select bool_and(delivered_entities.is_delivered) and count(*) = {{ entities | length }}
        from {{ ref('int_entities_delivered') }} as delivered_entities
        where delivered_entities.entity_name in (
            {%- for entity in entities %}'{{ entity }}'{{ ', ' if not loop.last }}{% endfor -%}
        )
    ), false)
    {%- endif %}
{%- endmacro %}

{% macro plausible_duration(expression, kind) -%}
    {%- set bounds = var('duration_bounds')[kind] -%}
    (({{ expression }}) between {{ bounds['min'] }} and {{ bounds['max'] }})
{%- endmacro %}

{% macro mart_inputs_delivered(mart) -%}
    {#- true when every entity var mart_inputs lists for the mart is delivered -#}
    {{ delivered(var('mart_inputs')[mart]) }}
{%- endmacro %}

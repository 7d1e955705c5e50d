{#-
    date_key(expression): the yyyymmdd integer of a date or timestamp, dim_date's key
    (2025-06-03 -> 20250603), for every fact's *_date_key.

    Arithmetic on the date's parts rather than strftime: the same integer at about a fifth of the
    cost (15.5 M touches at scale 10: 0.37 s -> 0.08 s), which counts because the two biggest facts
    are views that compute it on every read.
-#}
{% macro date_key(expression) -%}
    cast(year({{ expression }}) * 10000 + month({{ expression }}) * 100 + day({{ expression }}) as integer)
{%- endmacro %}

{#-
    The sales forecast's rules, shared by sales_forecast, forecast_accuracy and the scorecard.

    stage_probability_values(): a `(values ...) as probabilities (stage, stage_probability)` table of
    var sales_forecast.stage_probabilities (a stage missing there weighs 0 where it is coalesced).

    absolute_pct_error(forecast, actual): |forecast - actual| / actual; null when actual is not above 0
    (no won revenue to measure against). forecast_accuracy(forecast, actual): 1 - that error, floored
    at 0, so a forecast three times the actual scores 0, not -2, and the score stays a 0..1 share.
-#}
{% macro stage_probability_values() -%}
    (values
        {%- for stage, probability in var('sales_forecast')['stage_probabilities'].items() %}
        ('{{ stage }}', {{ probability }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as probabilities (stage, stage_probability)
{%- endmacro %}

{% macro absolute_pct_error(forecast, actual) -%}
    {{ ratio('abs((' ~ forecast ~ ') - (' ~ actual ~ '))', actual) }}
{%- endmacro %}

{% macro forecast_accuracy(forecast, actual) -%}
    {#- greatest() skips nulls: without the case, no actual would score 0 -#}
    case when ({{ actual }}) > 0 then greatest(0, 1 - {{ absolute_pct_error(forecast, actual) }}) end
{%- endmacro %}

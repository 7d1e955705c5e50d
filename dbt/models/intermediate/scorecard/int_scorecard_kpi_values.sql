-- Every value the four perspective models compute, in long format: one row per month x region x
-- column of int_scorecard_<perspective>_kpis (nulls included), tagged with the perspective. The
-- perspectives are those of seeds/scorecard_kpis.csv; which columns are KPIs is the seed's business
-- (int_scorecard_actuals keeps a column when the seed lists it under that perspective), so adding a
-- KPI is a seed row plus its expression in its perspective's model, and no column list to keep.
{%- set perspectives = ['financial', 'customer', 'internal_process', 'learning_growth'] %}
with
{% for perspective in perspectives %}
    {{ perspective }} as (

        select
            month_start_date,
            region,
            columns(* exclude (month_start_date, region))::double,
        from {{ ref('int_scorecard_' ~ perspective ~ '_kpis') }}

    ),

    {{ perspective }}_long as (

        select
            month_start_date,
            region,
            '{{ perspective }}' as perspective,
            kpi_code,
            actual_value,
        from {{ perspective }}
        unpivot include nulls (actual_value for kpi_code in (columns(* exclude (month_start_date, region))))

    ),
{% endfor %}
final as (
    {% for perspective in perspectives %}
        select * from {{ perspective }}_long
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

)

select * from final

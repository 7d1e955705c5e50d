{#-
    The skeleton the four scorecard perspective models share (int_scorecard_<perspective>_kpis,
    <perspective> as in seeds/scorecard_kpis.csv); each model holds only its KPI expressions.

    scorecard_region_key(): the region of a row of a `group by {{ scorecard_grouping(...) }}`:
    `*` on the all-regions row, `unknown` for a record without a region.

    scorecard_grouping(month): the grouping behind it, month x region and month alone (`*`). A
    rollup (sqlfluff parses it, not `grouping sets`): its grand-total row has no month and finds no
    cell of the grid.

    scorecard_grid(kpi_ctes): the from clause of a perspective's final select: the months x regions
    grid (int_scorecard_months x dim_region, `*` included), each KPI CTE left-joined on month and
    region, so that every cell exists and a region without records reads null (or 0 where the
    model coalesces).
-#}
{% macro scorecard_region_key() -%}
    case when grouping(region) = 1 then '*' else coalesce(region, 'unknown') end
{%- endmacro %}

{% macro scorecard_grouping(month) -%}
    rollup ({{ month }}, region)
{%- endmacro %}

{% macro scorecard_grid(kpi_ctes) -%}
    from (
        select
            grid_months.month_start_date,
            grid_regions.region,
        from {{ ref('int_scorecard_months') }} as grid_months
        cross join {{ ref('int_regions_labelled') }} as grid_regions
    ) as grid
    {%- for kpi_cte in kpi_ctes %}
    left join {{ kpi_cte }}
        on grid.month_start_date = {{ kpi_cte }}.month_start_date
        and grid.region = {{ kpi_cte }}.region
    {%- endfor %}
{%- endmacro %}

-- Targets of any grain split down to month x region x product_line (the additive metrics: KPIs
-- with is_additive in seeds/scorecard_kpis.csv, and var target_revenue_metric), by iterative
-- proportional fitting: each cell starts from its previous-year net revenue (same month a year
-- earlier, same region and line); then, repeatedly and from the coarsest grain to the finest,
-- the cells of each target are scaled so that they add up to the target (split evenly when
-- they are all zero). With one target this is the plain proportional split; with nested or
-- crossing targets (e.g. year x region and year x product line) it converges to a split that
-- meets all of them. Iterations: var target_fitting_iterations. See DECISIONLOG.md.
-- A cell whose previous year is not wholly covered by the order history (orders start after 1
-- January of that year) starts from 1, not 0: the year's targets are split evenly instead of
-- piling onto the few months the history happens to cover.
-- The rounds are one recursive CTE (`fitted`), one step per grain and round: its plan stays the
-- size of one step. Written out as 144 chained CTEs, DuckDB spent ~1 s planning it (DECISIONLOG).
{%- set iterations = var('target_fitting_iterations', 12) %}
{%- set signatures = [] %}
{%- for grain in ['year', 'quarter', 'month'] %}
    {%- for by_region in [false, true] %}
        {%- for by_line in [false, true] %}
            {%- set region_part = 'region' if by_region else '*' %}
            {%- set line_part = 'line' if by_line else '*' %}
            {%- do signatures.append(grain ~ '|' ~ region_part ~ '|' ~ line_part) %}
        {%- endfor %}
    {%- endfor %}
{%- endfor %}
with recursive

targets as (

    -- region and company targets only: a rep's target is not added into them (rep_performance)
    select * from {{ ref('stg_strategy__targets') }}
    where rep_id = '*'
        and (
            metric = '{{ var('target_revenue_metric') }}'
            or metric in (
                select scorecard_kpis.kpi_code from {{ ref('scorecard_kpis') }} as scorecard_kpis
                where scorecard_kpis.is_additive
            )
        )

),

order_history as (

    select min(first_event_month) as first_month
    from {{ ref('int_entities_delivered') }}
    where entity_name = 'erp.sales_orders'
        and is_delivered

),

regions as (

    select region from {{ ref('int_regions_labelled') }}
    where not is_all_regions

),

product_lines as (

    select distinct product_line from {{ ref('int_products_classified') }}
    where product_line is not null

),

actuals as (

    select * from {{ ref('int_net_revenue_by_month_region_line') }}

),

keyed_targets as (

    select
        period || '|' || region || '|' || product_line || '|' || metric as target_key,
        period_grain || '|' || case when region = '*' then '*' else 'region' end
        || '|' || case when product_line = '*' then '*' else 'line' end as signature,
        metric,
        period_start_month,
        period_end_month,
        region,
        product_line,
        target_value,
    from targets
    where target_value is not null

),

months as (

    select distinct
        keyed_targets.metric,
        cast(unnest(generate_series(
            keyed_targets.period_start_month, keyed_targets.period_end_month, interval 1 month
        )) as date) as month_start_date,
    from keyed_targets

),

cells as (

    -- every month x region x line some target of the metric covers
    select distinct
        months.metric,
        months.month_start_date,
        regions.region,
        product_lines.product_line,
    from keyed_targets
    inner join months
        on keyed_targets.metric = months.metric
        and months.month_start_date between keyed_targets.period_start_month and keyed_targets.period_end_month
    inner join regions
        on keyed_targets.region in ('*', regions.region)
    inner join product_lines
        on keyed_targets.product_line in ('*', product_lines.product_line)

),

step_0 as (

    select
        cells.*,
        greatest(coalesce(actuals.net_revenue, 0), 0) as previous_year_actual,
        case
            when order_history.first_month <= make_date(year(cells.month_start_date) - 1, 1, 1)
                then greatest(coalesce(actuals.net_revenue, 0), 0)
            else 1
        end as target_value,
    from cells
    cross join order_history
    left join actuals
        on actuals.month_start_date = cells.month_start_date - interval 1 year
        and cells.region = actuals.region
        and cells.product_line = actuals.product_line

),

signature_order as (

    -- the grains in the order a round visits them, coarsest first
    {%- for signature in signatures %}
        select {{ loop.index0 }} as signature_index, '{{ signature }}' as signature
        {{ 'union all' if not loop.last }}
    {%- endfor %}

),

-- step k scales the cells to the targets of grain (k - 1) mod {{ signatures | length }}. Each step
-- reads only the rows of the step before (DuckDB's recursive CTE); the last step's rows are the fit.
-- (USING KEY would keep one version per cell, but sqlfluff cannot parse it.)
fitted (step, metric, month_start_date, region, product_line, previous_year_actual, target_value) as (

    select
        0 as step,
        metric,
        month_start_date,
        region,
        product_line,
        previous_year_actual,
        -- the anchor sets the column types of every step: a decimal would round each step to cents
        cast(target_value as double) as target_value,
    from step_0

    union all

    select
        fitted.step + 1 as step,
        fitted.metric,
        fitted.month_start_date,
        fitted.region,
        fitted.product_line,
        fitted.previous_year_actual,
        case
            when keyed_targets.target_key is null then fitted.target_value
            when sum(fitted.target_value) over per_target = 0
                then keyed_targets.target_value / count(*) over per_target
            else fitted.target_value * keyed_targets.target_value / sum(fitted.target_value) over per_target
        end as target_value,
    from fitted
    inner join signature_order
        on fitted.step % {{ signatures | length }} = signature_order.signature_index
    left join keyed_targets
        on signature_order.signature = keyed_targets.signature
        and fitted.metric = keyed_targets.metric
        and fitted.month_start_date between keyed_targets.period_start_month and keyed_targets.period_end_month
        and keyed_targets.region in ('*', fitted.region)
        and keyed_targets.product_line in ('*', fitted.product_line)
    where fitted.step < {{ iterations * (signatures | length) }}
    window per_target as (partition by keyed_targets.target_key)

),

final as (

    select
        metric,
        month_start_date,
        region,
        product_line,
        target_value,
        previous_year_actual,
    from fitted
    where step = {{ iterations * (signatures | length) }}

)

select * from final

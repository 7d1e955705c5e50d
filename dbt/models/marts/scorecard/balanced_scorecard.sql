-- One row per month x region (and `*`) x KPI, with target, direction and status.
-- Actual: int_scorecard_actuals (null = no data: see no_data_reason). Target, first found of:
--   1. strategy.targets with the KPI's code as metric. Additive KPIs (seed is_additive): decomposed
--      to month x region x product line and summed (int_targets_decomposed). Other KPIs: a level,
--      applied as-is to every month it covers: product line `*` only, the cell's own region before
--      `*` (the all-regions row reads only `*`), then month before quarter before year.
--   2. CRM completeness: the collected critical fields' targets weighted by their cells (meta.field_policy).
--   3. the seed's default target (seeds/scorecard_kpis.csv).
-- An additive target is prorated by day in the as-of month, which is measured only to the as-of date.
-- Status: see the kpi_status doc block (green / amber / red, no_data, no_target).
with

actuals as (

    select * from {{ ref('int_scorecard_actuals') }}

),

kpis as (

    select * from {{ ref('scorecard_kpis') }}

),

months as (

    select * from {{ ref('int_scorecard_months') }}

),

status_labels as (

    select * from {{ ref('status_labels') }}

),

decomposed_targets as (

    select * from {{ ref('int_targets_decomposed') }}

),

level_targets as (

    -- region and company targets only (a rep's target is read by rep_performance)
    select * from {{ ref('stg_strategy__targets') }}
    where product_line = '*'
        and rep_id = '*'
        and target_value is not null

),

additive_targets as (

    select
        month_start_date,
        case when grouping(region) = 1 then '*' else region end as region,
        metric as kpi_code,
        sum(target_value) as target_value,
    from decomposed_targets
    -- month x metric x region and month x metric (`*`); the coarser rollup rows have no metric and
    -- match no KPI below
    group by rollup(month_start_date, metric, region)

),

cells as (

    select
        actuals.*,
        kpis.is_additive,
    from actuals
    inner join kpis
        on actuals.kpi_code = kpis.kpi_code

),

ranked_level_targets as (

    select
        cells.month_start_date,
        cells.region,
        cells.kpi_code,
        level_targets.target_value,
        row_number() over (
            partition by cells.month_start_date, cells.region, cells.kpi_code
            order by
                level_targets.region = '*',
                case level_targets.period_grain when 'month' then 1 when 'quarter' then 2 else 3 end
        ) as target_rank,
    from cells
    inner join level_targets
        on cells.kpi_code = level_targets.metric
        and cells.month_start_date between level_targets.period_start_month and level_targets.period_end_month
        and level_targets.region in (cells.region, '*')
    where not cells.is_additive

),

joined as (

    select
        cells.month_start_date,
        cells.region,
        kpis.perspective,
        kpis.perspective_zh,
        kpis.sort_order,
        cells.kpi_code,
        kpis.kpi_name,
        kpis.kpi_name_zh,
        kpis.unit,
        kpis.time_window,
        kpis.description as kpi_definition,
        cells.actual_value,
        cells.is_covered,
        cells.uncovered_reason,
        case
            when cells.is_additive and additive_targets.target_value is not null
                then additive_targets.target_value
                    * (datediff('day', months.month_start_date, months.period_end_date) + 1) / months.days_in_month
            when ranked_level_targets.target_value is not null then ranked_level_targets.target_value
            when cells.policy_target_value is not null then cells.policy_target_value
            else kpis.target_value
        end as target_value,
        case
            when cells.is_additive and additive_targets.target_value is not null then 'strategy.targets'
            when ranked_level_targets.target_value is not null then 'strategy.targets'
            when cells.policy_target_value is not null then 'meta.field_policy'
            when kpis.target_value is not null then 'config'
        end as target_source,
        kpis.direction,
        kpis.amber_tolerance,
    from cells
    inner join kpis
        on cells.kpi_code = kpis.kpi_code
    inner join months
        on cells.month_start_date = months.month_start_date
    left join additive_targets
        on cells.month_start_date = additive_targets.month_start_date
        and cells.region = additive_targets.region
        and cells.kpi_code = additive_targets.kpi_code
        and cells.is_additive
    left join ranked_level_targets
        on cells.month_start_date = ranked_level_targets.month_start_date
        and cells.region = ranked_level_targets.region
        and cells.kpi_code = ranked_level_targets.kpi_code
        and ranked_level_targets.target_rank = 1

),

final_status as (

    select
        month_start_date,
        strftime(month_start_date, '%Y-%m') as year_month,
        region,
        perspective,
        perspective_zh,
        kpi_code,
        kpi_name,
        kpi_name_zh,
        unit,
        time_window,
        actual_value,
        target_value,
        direction,
        case
            when actual_value is null then 'no_data'
            when target_value is null then 'no_target'
            when direction = 'higher_is_better' and actual_value >= target_value then 'green'
            when direction = 'higher_is_better'
                and actual_value >= target_value - abs(target_value) * amber_tolerance then 'amber'
            when direction = 'lower_is_better' and actual_value <= target_value then 'green'
            when direction = 'lower_is_better'
                and actual_value <= target_value + abs(target_value) * amber_tolerance then 'amber'
            else 'red'
        end as status,
        sort_order,
        target_source,
        case
            when actual_value is not null then null
            when not is_covered then uncovered_reason
            else 'nothing to measure: no denominator (or no record) in the period'
        end as no_data_reason,
        kpi_definition,
    from joined

),

final as (

    select
        final_status.month_start_date,
        final_status.year_month,
        final_status.region,
        final_status.perspective,
        final_status.perspective_zh,
        final_status.kpi_code,
        final_status.kpi_name,
        final_status.kpi_name_zh,
        final_status.unit,
        final_status.time_window,
        final_status.actual_value,
        final_status.target_value,
        final_status.direction,
        final_status.status,
        final_status.sort_order,
        status_labels.status_name_zh as status_zh,
        status_labels.status_name,
        final_status.target_source,
        final_status.no_data_reason,
        final_status.kpi_definition,
    from final_status
    left join status_labels
        on final_status.status = status_labels.status

)

select * from final

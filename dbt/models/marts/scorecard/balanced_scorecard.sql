-- One row per month x region (and `*`) x KPI, with target, direction and RAG status.
-- Target: the seed's default (seeds/scorecard_kpis.csv); for additive KPIs (unit CNY or count)
-- a strategy.targets target of that metric, decomposed to month x region, takes precedence.
-- Status: see the rag_status doc block.
with

actuals as (

    select * from {{ ref('int_scorecard_actuals') }}

),

kpis as (

    select * from {{ ref('scorecard_kpis') }}

),

decomposed_targets as (

    select * from {{ ref('int_targets_decomposed') }}

),

table_targets as (

    select
        month_start_date,
        case when grouping(region) = 1 then '*' else region end as region,
        metric as kpi_code,
        sum(target_value) as target_value,
    from decomposed_targets
    group by grouping sets ((month_start_date, region, metric), (month_start_date, metric))

),

joined as (

    select
        actuals.month_start_date,
        actuals.region,
        kpis.perspective,
        kpis.perspective_zh,
        kpis.sort_order,
        actuals.kpi_code,
        kpis.kpi_name,
        kpis.kpi_name_zh,
        kpis.unit,
        kpis.time_window,
        actuals.actual_value,
        case
            when kpis.unit in ('CNY', 'count') then coalesce(table_targets.target_value, kpis.target_value)
            else kpis.target_value
        end as target_value,
        kpis.direction,
        kpis.amber_tolerance,
    from actuals
    inner join kpis
        on actuals.kpi_code = kpis.kpi_code
    left join table_targets
        on actuals.month_start_date = table_targets.month_start_date
        and actuals.region = table_targets.region
        and actuals.kpi_code = table_targets.kpi_code

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
            when actual_value is null or target_value is null then null
            when direction = 'higher_is_better' and actual_value >= target_value then 'green'
            when direction = 'higher_is_better'
                and actual_value >= target_value - abs(target_value) * amber_tolerance then 'amber'
            when direction = 'lower_is_better' and actual_value <= target_value then 'green'
            when direction = 'lower_is_better'
                and actual_value <= target_value + abs(target_value) * amber_tolerance then 'amber'
            else 'red'
        end as status,
        sort_order,
    from joined

),

labelled as (

    select
        *,
        case status when 'green' then '绿' when 'amber' then '黄' when 'red' then '红' end as status_zh,
    from final_status

),

final as (

    select * from labelled

)

select * from final

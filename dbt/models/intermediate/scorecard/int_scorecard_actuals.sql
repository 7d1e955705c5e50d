-- Actual value of every scorecard KPI per month x region (and `*` = all regions), in long format
-- on the full grid months x regions x KPIs of seeds/scorecard_kpis.csv. The perspective models
-- compute the values (int_scorecard_kpi_values unpivots them); this one keeps the seed's KPIs, each
-- from its perspective's model, and applies what "no data" means:
--   * a KPI that cannot be measured in the month (int_scorecard_coverage: an entity it reads is
--     not delivered, or its data starts after what the KPI's window reads) has a null actual;
--   * else an additive KPI (seed is_additive: counts and amounts) with nothing to count is 0, and
--     a ratio or an average is null when it has no denominator (macro ratio).
-- policy_target_value: a target computed from config for the cell (CRM completeness: the
-- collected critical fields' targets weighted by their cells).
with

kpi_values as (

    select * from {{ ref('int_scorecard_kpi_values') }}

),

internal_process as (

    select * from {{ ref('int_scorecard_internal_process_kpis') }}

),

kpis as (

    select * from {{ ref('scorecard_kpis') }}

),

coverage as (

    select * from {{ ref('int_scorecard_coverage') }}

),

long as (

    -- the seed decides which computed columns are KPIs, and under which perspective
    select
        kpi_values.month_start_date,
        kpi_values.region,
        kpi_values.kpi_code,
        kpi_values.actual_value,
    from kpi_values
    inner join kpis
        on kpi_values.kpi_code = kpis.kpi_code
        and kpi_values.perspective = kpis.perspective

),

cells as (

    select distinct
        month_start_date,
        region,
    from kpi_values

),

policy_targets as (

    select
        month_start_date,
        region,
        'crm_completeness_pct' as kpi_code,
        crm_completeness_target as policy_target_value,
    from internal_process

),

grid as (

    select
        cells.month_start_date,
        cells.region,
        kpis.kpi_code,
        kpis.is_additive,
    from cells
    cross join kpis

),

final as (

    select
        grid.month_start_date,
        grid.region,
        grid.kpi_code,
        case
            when not coverage.is_covered then null
            when grid.is_additive then coalesce(long.actual_value, 0)
            else long.actual_value
        end as actual_value,
        coverage.is_covered,
        coverage.uncovered_reason,
        policy_targets.policy_target_value,
    from grid
    inner join coverage
        on grid.month_start_date = coverage.month_start_date
        and grid.kpi_code = coverage.kpi_code
    left join long
        on grid.month_start_date = long.month_start_date
        and grid.region = long.region
        and grid.kpi_code = long.kpi_code
    left join policy_targets
        on grid.month_start_date = policy_targets.month_start_date
        and grid.region = policy_targets.region
        and grid.kpi_code = policy_targets.kpi_code

)

select * from final

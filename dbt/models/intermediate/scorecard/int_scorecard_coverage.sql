-- Per month x KPI: can the KPI be measured? Every entity the KPI reads (seeds/scorecard_kpis.csv,
-- column inputs: space separated; `a|b` is one input that either entity satisfies, for a KPI that
-- reads whichever of them is delivered) must be delivered, and an entity with event dates must
-- reach back to the start of what the KPI's definition reads (month granularity: its first
-- month <= that date):
--   the calendar month (month KPIs); the trailing window to the period end (trailing_12m KPIs,
--   complaint_rate's denominator, training coverage); for churn the previous window as well; for
--   YoY growth the same days a year earlier; for new customers the year before the month (an
--   earlier first order would otherwise pass for a new customer).
-- Not measurable -> the KPI's actual is null ("no data"), never a 0 that only says "not delivered".
{%- set trailing = var('scorecard_trailing_days') %}
with

months as (

    select * from {{ ref('int_scorecard_months') }}

),

kpis as (

    select * from {{ ref('scorecard_kpis') }}

),

entities as (

    select * from {{ ref('int_entities_delivered') }}

),

windows as (

    select
        months.month_start_date,
        kpis.kpi_code,
        kpis.inputs,
        case
            when kpis.kpi_code = 'churn_rate' then months.period_end_date - (2 * {{ trailing }} - 1)
            when kpis.kpi_code = 'new_customers' then months.month_start_date - {{ trailing }}
            when kpis.kpi_code = 'revenue_growth_yoy' then cast(months.month_start_date - interval 1 year as date)
            when kpis.kpi_code = 'training_coverage'
                then months.period_end_date - ({{ var('training_coverage_days') }} - 1)
            when kpis.kpi_code = 'complaint_rate' or kpis.time_window = 'trailing_12m'
                then months.period_end_date - ({{ trailing }} - 1)
            else months.month_start_date
        end as coverage_start_date,
    from months
    cross join kpis

),

kpi_inputs as (

    select
        windows.month_start_date,
        windows.kpi_code,
        windows.coverage_start_date,
        unnest(string_split(coalesce(windows.inputs, ''), ' ')) as input_term,
    from windows

),

input_alternatives as (

    select
        *,
        unnest(string_split(input_term, '|')) as entity_name,
    from kpi_inputs

),

alternative_checks as (

    select
        input_alternatives.month_start_date,
        input_alternatives.kpi_code,
        input_alternatives.input_term,
        input_alternatives.entity_name,
        case
            when input_alternatives.entity_name = '' then null
            when entities.entity_name is null then input_alternatives.entity_name || ' is not an extract entity'
            when not entities.is_delivered
                then input_alternatives.entity_name || ' not delivered (' || entities.not_delivered_reason || ')'
            when entities.first_event_month > input_alternatives.coverage_start_date
                then input_alternatives.entity_name || ' starts ' || strftime(entities.first_event_month, '%Y-%m')
                    || ', after ' || strftime(input_alternatives.coverage_start_date, '%Y-%m-%d')
        end as problem,
    from input_alternatives
    left join entities
        on input_alternatives.entity_name = entities.entity_name

),

input_checks as (

    -- an input is met when one of its alternatives is; else every alternative's problem is named
    select
        month_start_date,
        kpi_code,
        input_term,
        case
            when count(problem) = count(*) then string_agg(problem, ' and ' order by entity_name)
        end as problem,
    from alternative_checks
    group by all

),

final as (

    select
        windows.month_start_date,
        windows.kpi_code,
        windows.coverage_start_date,
        count(input_checks.problem) = 0 as is_covered,
        string_agg(input_checks.problem, '; ' order by input_checks.input_term) as uncovered_reason,
    from windows
    left join input_checks
        on windows.month_start_date = input_checks.month_start_date
        and windows.kpi_code = input_checks.kpi_code
    group by all

)

select * from final

-- Learning-and-growth KPIs per month x region (and `*`): active reps (role rep, employed at the
-- period end; an input, not a KPI), training coverage (course completed in the trailing window),
-- certification pass rate, effective touches per rep per working day, net revenue per active rep.
-- Ratios follow macro ratio.
with

months as (

    select * from {{ ref('int_scorecard_months') }}

),

reps as (

    select * from {{ ref('stg_crm__sales_reps') }}

),

training as (

    select * from {{ ref('stg_hr__training_records') }}

),

financial as (

    -- net revenue of the month, as the financial perspective measures it
    select * from {{ ref('int_scorecard_financial_kpis') }}

),

activities as (

    select * from {{ ref('stg_crm__activities') }}

),

active_reps as (

    select
        months.month_start_date,
        months.period_end_date,
        months.working_days,
        reps.rep_id,
        reps.region,
    from reps
    inner join months
        on reps.hired_date <= months.period_end_date
        and (reps.left_date is null or reps.left_date > months.period_end_date)
    where reps.role = 'rep'

),

rep_training as (

    select
        active_reps.month_start_date,
        active_reps.rep_id,
        count(*) > 0 as is_trained,
    from active_reps
    inner join training
        on active_reps.rep_id = training.rep_id
        and active_reps.period_end_date - {{ var('training_coverage_days') }} < training.completed_date
        and active_reps.period_end_date >= training.completed_date
    group by all

),

rep_days as (

    -- effective touches per rep x day first: one scan of the activities, a small range join below
    select
        rep_id,
        cast(occurred_at as date) as activity_date,
        count(*) as effective_touches,
    from activities
    where is_effective  -- an unknown is_effective is no effective touch
    group by all

),

rep_activity as (

    select
        active_reps.month_start_date,
        active_reps.rep_id,
        cast(sum(rep_days.effective_touches) as bigint) as effective_touches,
    from active_reps
    inner join rep_days
        on active_reps.rep_id = rep_days.rep_id
        and rep_days.activity_date between active_reps.month_start_date and active_reps.period_end_date
    group by all

),

rep_kpis as (

    select
        active_reps.month_start_date,
        {{ scorecard_region_key() }} as region,
        count(*) as active_reps,
        {{ ratio('count(rep_training.rep_id)', 'count(*)') }} as training_coverage,
        {{ ratio('sum(rep_activity.effective_touches)', 'count(*) * any_value(active_reps.working_days)') }}
            as effective_touches_per_rep_day,
    from active_reps
    left join rep_training
        on active_reps.month_start_date = rep_training.month_start_date
        and active_reps.rep_id = rep_training.rep_id
    left join rep_activity
        on active_reps.month_start_date = rep_activity.month_start_date
        and active_reps.rep_id = rep_activity.rep_id
    group by {{ scorecard_grouping('active_reps.month_start_date') }}

),

certification_kpis as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        {{ ratio('count(*) filter (where training.is_passed)', 'count(*)') }} as certification_pass_rate,
    from training
    inner join reps
        on training.rep_id = reps.rep_id
    inner join months
        on training.completed_date between months.month_start_date and months.period_end_date
    where training.certification_level is not null
    group by {{ scorecard_grouping('months.month_start_date') }}

),

final as (

    select
        grid.month_start_date,
        grid.region,
        coalesce(rep_kpis.active_reps, 0) as active_reps,
        rep_kpis.training_coverage,
        certification_kpis.certification_pass_rate,
        rep_kpis.effective_touches_per_rep_day,
        {{ ratio('financial.net_revenue', 'rep_kpis.active_reps') }} as revenue_per_rep,
    {{ scorecard_grid(['rep_kpis', 'certification_kpis', 'financial']) }}

)

select * from final

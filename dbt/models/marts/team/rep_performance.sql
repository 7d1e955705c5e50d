-- Team performance per rep x month, from the first month with orders, deals or touches to the
-- as-of month, for the months the rep is employed and in a role of var rep_performance.roles.
-- Revenue is net revenue as in target_attainment (order lines after returns, not cancelled, up
-- to the as-of date: int_orders_aggregated_from_lines), credited to the order's rep. The rep's
-- target: the region's revenue target of the month (target_attainment, all product lines) split
-- by the reps' share of the region's net revenue in the previous calendar year, as
-- int_targets_decomposed splits a target by last year's revenue; evenly when no rep of the region
-- sold last year. A revenue target delivered for the rep (int_rep_targets_by_month) replaces that
-- split for its months (target_basis); it is not subtracted from the other reps' split. Open
-- pipeline at the month's end (the as-of month: on the as-of date) is read from today's CRM
-- state: created by then, not closed by then. Touches per working day:
-- activities / Monday-to-Friday days of the month up to the as-of date. CSAT: answers of the
-- accounts the rep owns now. CRM completeness: critical, collected fields (meta.field_policy) of
-- the opportunities the rep created in the month, current values. CRM timeliness: the rep's
-- touches of the month with created_at logged within var crm_timeliness.max_logging_delay_hours
-- (int_activities_checked_for_logging_delay, as the scorecard counts). See DECISIONLOG.md.
{%- set roles = var('rep_performance')['roles'] %}
with

reps as (

    select * from {{ ref('dim_sales_rep') }}
    where role in ({% for role in roles %}'{{ role }}'{{ ', ' if not loop.last }}{% endfor %})

),

orders as (

    -- net revenue per order, orders not cancelled up to the as-of date (as in target_attainment)
    select * from {{ ref('int_orders_aggregated_from_lines') }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

activities_by_day as (

    -- every touch, with whether it was logged on time (the rule of the scorecard too), counted per
    -- rep and day: one pass over the touches (15 M at scale 10) for the first month, the touches
    -- and the timeliness, instead of one each
    select
        rep_id,
        activity_date,
        count(*) as touches,
        count(*) filter (where is_logged_on_time) as touches_logged_on_time,
        count(is_logged_on_time) as touches_with_created_at,
    from {{ ref('int_activities_checked_for_logging_delay') }}
    group by all

),

attainment as (

    select * from {{ ref('target_attainment') }}

),

delivered_rep_targets as (

    select * from {{ ref('int_rep_targets_by_month') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),

survey_responses as (

    select * from {{ ref('fct_survey_responses') }}

),

field_policy as (

    -- the critical opportunity fields the deployment collects (as the scorecard's CRM completeness)
    select * from {{ ref('stg_meta__field_policy') }}
    where source = 'crm'
        and entity = 'opportunities'
        and is_critical
        and is_collected

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

revenue_by_rep_month as (

    select
        rep_id,
        cast(date_trunc('month', order_date) as date) as month_start_date,
        sum(net_revenue) as net_revenue,
    from orders
    group by all

),

first_month as (

    select least(
        (select min(order_date) from orders),
        (select min(created_date) from opportunities),
        (select min(activity_date) from activities_by_day)
    ) as first_date

),

days as (

    select
        cast(unnest(generate_series(
            cast(date_trunc('month', first_month.first_date) as date), last_day(as_of.as_of_date), interval 1 day
        )) as date) as date_day,
    from first_month
    cross join as_of

),

months as (

    select
        cast(date_trunc('month', days.date_day) as date) as month_start_date,
        year(days.date_day) as year,
        year(days.date_day) || '-Q' || quarter(days.date_day) as year_quarter,
        count(*) filter (where isodow(days.date_day) < 6 and days.date_day <= as_of.as_of_date) as working_days,
        max(days.date_day) as month_end_date,
        -- the pipeline of the as-of month is the one open on the as-of date
        least(max(days.date_day), any_value(as_of.as_of_date)) as pipeline_date,
    from days
    cross join as_of
    group by all

),

rep_months as (

    select
        reps.rep_id,
        reps.rep_name,
        reps.region,
        reps.team,
        months.*,
    from reps
    inner join months
        on coalesce(reps.hired_date, months.month_start_date) <= months.month_end_date
        and coalesce(reps.left_date, months.month_start_date) >= months.month_start_date

),

previous_year as (

    select
        rep_months.rep_id,
        rep_months.month_start_date,
        coalesce(sum(revenue_by_rep_month.net_revenue), 0) as previous_year_revenue,
    from rep_months
    left join revenue_by_rep_month
        on rep_months.rep_id = revenue_by_rep_month.rep_id
        and year(revenue_by_rep_month.month_start_date) = rep_months.year - 1
    group by all

),

region_targets as (

    select
        month_start_date,
        region,
        sum(target_revenue) as target_revenue,
    from attainment
    group by all

),

shares as (

    select
        rep_months.rep_id,
        rep_months.month_start_date,
        case
            when sum(greatest(previous_year.previous_year_revenue, 0)) over region_month > 0
                then greatest(previous_year.previous_year_revenue, 0)
                    / sum(greatest(previous_year.previous_year_revenue, 0)) over region_month
            else 1.0 / count(*) over region_month
        end as target_share,
    from rep_months
    inner join previous_year
        on rep_months.rep_id = previous_year.rep_id
        and rep_months.month_start_date = previous_year.month_start_date
    window region_month as (partition by rep_months.region, rep_months.month_start_date)

),

deals as (

    select
        rep_months.rep_id,
        rep_months.month_start_date,
        count(*) filter (
            where opportunities.is_won and date_trunc('month', opportunities.close_date) = rep_months.month_start_date
        ) as won_opportunities,
        count(*) filter (
            where opportunities.is_closed and not opportunities.is_won
            and date_trunc('month', opportunities.close_date) = rep_months.month_start_date
        ) as lost_opportunities,
        avg(opportunities.sales_cycle_days) filter (
            where opportunities.is_won and opportunities.is_sales_cycle_plausible
            and date_trunc('month', opportunities.close_date) = rep_months.month_start_date
        ) as avg_sales_cycle_days,
        count(*) filter (
            where opportunities.created_date <= rep_months.pipeline_date
            and (not opportunities.is_closed or opportunities.close_date > rep_months.pipeline_date)
        ) as open_opportunities,
        coalesce(sum(opportunities.amount) filter (
            where opportunities.created_date <= rep_months.pipeline_date
            and (not opportunities.is_closed or opportunities.close_date > rep_months.pipeline_date)
        ), 0) as open_pipeline_amount,
    from rep_months
    left join opportunities
        on rep_months.rep_id = opportunities.owner_rep_id
    group by all

),

touches as (

    select
        activities_by_day.rep_id,
        cast(date_trunc('month', activities_by_day.activity_date) as date) as month_start_date,
        cast(sum(activities_by_day.touches) as bigint) as touches,
        cast(sum(activities_by_day.touches_logged_on_time) as bigint) as activities_logged_on_time,
        cast(sum(activities_by_day.touches_with_created_at) as bigint) as activities_with_created_at,
    from activities_by_day
    cross join as_of
    where activities_by_day.activity_date <= as_of.as_of_date
    group by all

),

csat as (

    -- CSAT answers of the accounts the rep owns now (dim_customer.owner_rep_id)
    select
        customers.owner_rep_id as rep_id,
        cast(date_trunc('month', survey_responses.responded_date) as date) as month_start_date,
        avg(survey_responses.score) as csat_avg,
        count(*) as csat_responses,
    from survey_responses
    inner join customers
        on survey_responses.account_id = customers.account_id
    cross join as_of
    where survey_responses.survey_type = 'csat'
        and survey_responses.responded_date <= as_of.as_of_date
    group by all

),

opportunity_cells as (

    {{ field_cells('opportunities', 'opportunities', 'opportunity_id') }}

),

crm_completeness as (

    -- critical fields of the opportunities the rep created in the month, current values
    select
        opportunities.owner_rep_id as rep_id,
        cast(date_trunc('month', opportunities.created_date) as date) as month_start_date,
        count(*) filter (where opportunity_cells.is_filled) as crm_fields_filled,
        count(*) as crm_fields_checked,
    from opportunities
    inner join opportunity_cells
        on opportunities.opportunity_id = opportunity_cells.record_id
    inner join field_policy
        on opportunity_cells.field = field_policy.field
    cross join as_of
    where opportunities.created_date <= as_of.as_of_date
    group by all

),

measured as (

    select
        rep_months.rep_id,
        rep_months.rep_name,
        rep_months.region,
        rep_months.team,
        rep_months.month_start_date,
        rep_months.year_quarter,
        coalesce(revenue_by_rep_month.net_revenue, 0) as net_revenue,
        coalesce(
            delivered_rep_targets.target_revenue, region_targets.target_revenue * shares.target_share
        ) as target_revenue,
        shares.target_share,
        case when delivered_rep_targets.rep_id is null then 'region_split' else 'rep_target' end as target_basis,
        deals.won_opportunities,
        deals.lost_opportunities,
        deals.avg_sales_cycle_days,
        deals.open_opportunities,
        deals.open_pipeline_amount,
        coalesce(touches.touches, 0) as touches,
        rep_months.working_days,
        csat.csat_avg,
        coalesce(csat.csat_responses, 0) as csat_responses,
        coalesce(crm_completeness.crm_fields_filled, 0) as crm_fields_filled,
        coalesce(crm_completeness.crm_fields_checked, 0) as crm_fields_checked,
        coalesce(touches.activities_logged_on_time, 0) as activities_logged_on_time,
        coalesce(touches.activities_with_created_at, 0) as activities_with_created_at,
    from rep_months
    inner join shares
        on rep_months.rep_id = shares.rep_id
        and rep_months.month_start_date = shares.month_start_date
    inner join deals
        on rep_months.rep_id = deals.rep_id
        and rep_months.month_start_date = deals.month_start_date
    left join revenue_by_rep_month
        on rep_months.rep_id = revenue_by_rep_month.rep_id
        and rep_months.month_start_date = revenue_by_rep_month.month_start_date
    left join region_targets
        on rep_months.region = region_targets.region
        and rep_months.month_start_date = region_targets.month_start_date
    left join delivered_rep_targets
        on rep_months.rep_id = delivered_rep_targets.rep_id
        and rep_months.month_start_date = delivered_rep_targets.month_start_date
    left join touches
        on rep_months.rep_id = touches.rep_id
        and rep_months.month_start_date = touches.month_start_date
    left join csat
        on rep_months.rep_id = csat.rep_id
        and rep_months.month_start_date = csat.month_start_date
    left join crm_completeness
        on rep_months.rep_id = crm_completeness.rep_id
        and rep_months.month_start_date = crm_completeness.month_start_date

),

final as (

    select
        rep_id,
        rep_name,
        region,
        team,
        month_start_date,
        strftime(month_start_date, '%Y-%m') as year_month,
        year_quarter,
        net_revenue,
        target_revenue,
        target_share,
        target_basis,
        {{ ratio('net_revenue', 'target_revenue') }} as attainment_rate,
        sum(net_revenue) over quarter_to_date as qtd_net_revenue,
        sum(target_revenue) over quarter_to_date as qtd_target_revenue,
        {{ ratio('sum(net_revenue) over quarter_to_date', 'sum(target_revenue) over quarter_to_date') }}
            as qtd_attainment_rate,
        won_opportunities,
        lost_opportunities,
        {{ ratio('won_opportunities', 'won_opportunities + lost_opportunities') }} as win_rate,
        avg_sales_cycle_days,
        open_opportunities,
        open_pipeline_amount,
        touches,
        working_days,
        {{ ratio('touches', 'working_days') }} as touches_per_working_day,
        csat_avg,
        csat_responses,
        crm_fields_filled,
        crm_fields_checked,
        {{ ratio('crm_fields_filled', 'crm_fields_checked') }} as crm_completeness_rate,
        activities_logged_on_time,
        activities_with_created_at,
        {{ ratio('activities_logged_on_time', 'activities_with_created_at') }} as crm_timeliness_pct,
        rank() over (partition by month_start_date, region order by net_revenue desc) as region_rank,
        rank() over (partition by month_start_date order by net_revenue desc) as company_rank,
    from measured
    where {{ mart_inputs_delivered('rep_performance') }}
    window quarter_to_date as (
        partition by rep_id, year_quarter order by month_start_date
        rows between unbounded preceding and current row
    )

)

select * from final

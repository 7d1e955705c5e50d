-- Actual value of every scorecard KPI per month x region (and `*` = all regions), in long format
-- on the full grid months x regions x KPIs. The perspective models compute the values; this one
-- adds revenue per rep, unpivots and applies what "no data" means:
--   * a KPI that cannot be measured in the month (int_scorecard_coverage: an entity it reads is
--     not delivered, or its data starts after what the KPI's window reads) has a null actual;
--   * else an additive KPI (seed is_additive: counts and amounts) with nothing to count is 0, and
--     a ratio or an average is null when it has no denominator (macro ratio).
-- policy_target_value: a target computed from config for the cell (CRM completeness: the
-- collected critical fields' targets weighted by their cells).
with

financial as (

    select * from {{ ref('int_scorecard_financial_kpis') }}

),

customer as (

    select * from {{ ref('int_scorecard_customer_kpis') }}

),

process as (

    select * from {{ ref('int_scorecard_process_kpis') }}

),

people as (

    select * from {{ ref('int_scorecard_people_kpis') }}

),

kpis as (

    select * from {{ ref('scorecard_kpis') }}

),

coverage as (

    select * from {{ ref('int_scorecard_coverage') }}

),

wide as (

    select
        financial.month_start_date,
        financial.region,
        financial.net_revenue,
        financial.revenue_growth_yoy,
        financial.gross_margin_pct,
        financial.collection_rate,
        financial.high_margin_share,
        financial.new_product_share,
        financial.avg_discount_rate,
        customer.active_customers,
        customer.new_customers,
        customer.churn_rate,
        customer.repurchase_rate,
        customer.cross_sell_rate,
        customer.nps,
        customer.csat_avg,
        customer.complaint_rate,
        customer.top100_concentration,
        process.lead_to_opportunity_rate,
        process.win_rate,
        process.sales_cycle_days,
        process.order_processing_days,
        financial.return_rate,
        customer.complaint_first_response_hours,
        process.crm_completeness_pct,
        people.training_coverage,
        people.certification_pass_rate,
        {{ ratio('financial.net_revenue', 'people.active_reps') }} as revenue_per_rep,
        people.effective_touches_per_rep_day,
    from financial
    inner join customer
        on financial.month_start_date = customer.month_start_date
        and financial.region = customer.region
    inner join process
        on financial.month_start_date = process.month_start_date
        and financial.region = process.region
    inner join people
        on financial.month_start_date = people.month_start_date
        and financial.region = people.region

),

wide_double as (

    select
        month_start_date,
        region,
        columns(* exclude (month_start_date, region))::double,
    from wide

),

long as (

    unpivot wide_double
    on columns(* exclude (month_start_date, region))
    into name kpi_code value actual_value

),

policy_targets as (

    select
        month_start_date,
        region,
        'crm_completeness_pct' as kpi_code,
        crm_completeness_target as policy_target_value,
    from process

),

grid as (

    select
        wide.month_start_date,
        wide.region,
        kpis.kpi_code,
        kpis.is_additive,
    from wide
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

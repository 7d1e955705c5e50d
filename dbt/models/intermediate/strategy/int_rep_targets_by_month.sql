-- Revenue targets delivered per sales rep (targets.rep_id; metric var target_revenue_metric, all
-- product lines) by rep x month. A quarter's or year's target is spread over its months as the
-- region split spreads a rep's share: in proportion to the region's revenue target of each month
-- (int_targets_decomposed, i.e. last year's seasonality), evenly when the region has no target
-- in those months. A month covered by targets of several grains takes the finest (month, then
-- quarter, then year), and a target of the rep's region before one of all regions. See
-- DECISIONLOG.md.
with

rep_targets as (

    select * from {{ ref('stg_strategy__targets') }}
    where rep_id != '*'
        and metric = '{{ var('target_revenue_metric') }}'
        and product_line = '*'
        and target_value is not null

),

sales_reps as (

    select * from {{ ref('stg_crm__sales_reps') }}

),

region_targets as (

    select
        region,
        month_start_date,
        sum(target_value) as target_revenue,
    from {{ ref('int_targets_decomposed') }}
    where metric = '{{ var('target_revenue_metric') }}'
    group by all

),

rep_target_months as (

    select
        rep_targets.rep_id,
        rep_targets.period,
        rep_targets.period_grain,
        rep_targets.region,
        rep_targets.target_value,
        cast(unnest(generate_series(
            rep_targets.period_start_month, rep_targets.period_end_month, interval 1 month
        )) as date) as month_start_date,
    from rep_targets

),

weighted as (

    select
        rep_target_months.*,
        coalesce(region_targets.target_revenue, 0) as region_target_revenue,
    from rep_target_months
    left join sales_reps
        on rep_target_months.rep_id = sales_reps.rep_id
    left join region_targets
        on sales_reps.region = region_targets.region
        and rep_target_months.month_start_date = region_targets.month_start_date

),

spread as (

    select
        rep_id,
        month_start_date,
        period_grain,
        region,
        case
            when sum(region_target_revenue) over per_target > 0
                then target_value * region_target_revenue / sum(region_target_revenue) over per_target
            else target_value / count(*) over per_target
        end as target_revenue,
    from weighted
    window per_target as (partition by rep_id, period, region)

),

final as (

    select
        rep_id,
        month_start_date,
        target_revenue,
    from spread
    qualify
        row_number() over (
            partition by rep_id, month_start_date
            order by case period_grain when 'month' then 1 when 'quarter' then 2 else 3 end, region = '*'
        ) = 1

)

select * from final

-- Per active rep over the 90 days to the as-of date: net revenue credited (orders not
-- cancelled, before returns), deals won and effective touches.
with

as_of as (

    select as_of_date from marts.pipeline_metrics

),

revenue as (

    select
        order_lines.rep_id,
        sum(order_lines.line_amount) as line_amount_90d,
    from marts.fct_order_lines as order_lines
    cross join as_of
    where not order_lines.is_cancelled
        and order_lines.order_date > as_of.as_of_date - 90
        and order_lines.order_date <= as_of.as_of_date
    group by all

),

won as (

    select
        opportunities.owner_rep_id as rep_id,
        count(*) as deals_won_90d,
    from marts.fct_opportunities as opportunities
    cross join as_of
    where opportunities.is_won
        and opportunities.close_date > as_of.as_of_date - 90
        and opportunities.close_date <= as_of.as_of_date
    group by all

),

touches as (

    select
        activities.rep_id,
        count(*) filter (where activities.is_effective) as effective_touches_90d,
    from marts.fct_activities as activities
    cross join as_of
    where activities.activity_date > as_of.as_of_date - 90
        and activities.activity_date <= as_of.as_of_date
    group by all

)

select
    reps.rep_id,
    reps.region,
    reps.team,
    reps.manager_id,
    coalesce(revenue.line_amount_90d, 0) as line_amount_90d,
    coalesce(won.deals_won_90d, 0) as deals_won_90d,
    coalesce(touches.effective_touches_90d, 0) as effective_touches_90d,
from marts.dim_sales_rep as reps
left join revenue
    on reps.rep_id = revenue.rep_id
left join won
    on reps.rep_id = won.rep_id
left join touches
    on reps.rep_id = touches.rep_id
where reps.is_active
    and reps.role = 'rep'
order by line_amount_90d desc

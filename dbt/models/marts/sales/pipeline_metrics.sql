-- One row of headline pipeline metrics as of the as-of date. Win rate = won / (won + lost);
-- sales cycle = close_date - created_at of won deals; pipeline velocity = open opportunities x
-- average won amount x win rate / average sales cycle days (CNY per day). Cycles outside var
-- duration_bounds.sales_cycle_days are left out of the average. Empty when opportunities are not
-- delivered (marts.mart_status).
with

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

totals as (

    select
        count(*) filter (where not opportunities.is_closed) as open_opportunities,
        sum(opportunities.amount) filter (where not opportunities.is_closed) as open_pipeline_amount,
        count(*) filter (where opportunities.is_won) as won_opportunities,
        count(*) filter (where opportunities.is_closed and not opportunities.is_won) as lost_opportunities,
        avg(opportunities.amount) filter (where opportunities.is_won) as avg_won_amount,
        avg(opportunities.sales_cycle_days) filter (
            where opportunities.is_won and opportunities.is_sales_cycle_plausible
        ) as avg_sales_cycle_days,
    from opportunities
    cross join as_of
    where coalesce(opportunities.created_date <= as_of.as_of_date, true)

),

final as (

    select
        as_of.as_of_date,
        totals.open_opportunities,
        totals.open_pipeline_amount,
        totals.won_opportunities,
        totals.lost_opportunities,
        totals.won_opportunities / nullif(totals.won_opportunities + totals.lost_opportunities, 0) as win_rate,
        totals.avg_won_amount,
        totals.avg_sales_cycle_days,
        totals.open_opportunities * totals.avg_won_amount
        * (totals.won_opportunities / nullif(totals.won_opportunities + totals.lost_opportunities, 0))
        / nullif(totals.avg_sales_cycle_days, 0) as pipeline_velocity,
    from totals
    cross join as_of
    where {{ mart_inputs_delivered('pipeline_metrics') }}

)

select * from final

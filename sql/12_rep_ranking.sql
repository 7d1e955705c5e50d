-- Reps ranked by net revenue in the month of the as-of date, within their region and the company,
-- with quarter-to-date attainment of their target, win rate, open pipeline and touches per
-- working day. Rep names are published in this mart (colleagues, not customers).
with

latest as (

    select max(month_start_date) as month_start_date
    from marts.rep_performance

)

select
    performance.company_rank,
    performance.region_rank,
    performance.region,
    performance.rep_id,
    performance.rep_name,
    round(performance.net_revenue, 2) as net_revenue,
    round(performance.qtd_net_revenue, 2) as qtd_net_revenue,
    round(performance.qtd_attainment_rate, 4) as qtd_attainment_rate,
    round(performance.win_rate, 4) as win_rate,
    round(performance.open_pipeline_amount, 2) as open_pipeline_amount,
    round(performance.touches_per_working_day, 2) as touches_per_working_day,
from marts.rep_performance as performance
inner join latest
    on performance.month_start_date = latest.month_start_date
order by performance.company_rank, performance.rep_id

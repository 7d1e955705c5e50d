-- Fails when the marts disagree on net revenue: the monthly scorecard (all regions) must equal
-- the month x region x line aggregate for every month (orders up to the as-of date).
with

scorecard as (

    select month_start_date, actual_value
    from {{ ref('balanced_scorecard') }}
    where kpi_code = 'net_revenue' and region = '*'

),

by_cell as (

    select month_start_date, sum(net_revenue) as net_revenue
    from {{ ref('int_net_revenue_by_month_region_line') }}
    group by month_start_date

)

select scorecard.*, by_cell.net_revenue
from scorecard
full outer join by_cell
    on scorecard.month_start_date = by_cell.month_start_date
where abs(coalesce(scorecard.actual_value, 0) - coalesce(by_cell.net_revenue, 0)) > 0.01

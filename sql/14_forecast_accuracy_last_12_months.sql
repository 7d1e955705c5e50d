-- Forecast accuracy of the last 12 complete months, per region and for all regions (*): the
-- forecast as it stood at each month's start against the amount won, summed over the 12 months,
-- the average monthly accuracy, and how many months rest on today's amounts and close dates
-- (reconstructed: before the opportunities snapshot's first run). Definitions: docs/marts.md.
with

last_12_months as (

    select month_start_date from marts.forecast_accuracy
    where region = '*' and not is_as_of_month
    order by month_start_date desc
    limit 12

)

select
    accuracy.region,
    min(accuracy.year_month) as first_month,
    max(accuracy.year_month) as last_month,
    round(sum(accuracy.forecast_amount_cny), 2) as forecast_amount_cny,
    round(sum(accuracy.actual_won_cny), 2) as actual_won_cny,
    round(
        (sum(accuracy.forecast_amount_cny) - sum(accuracy.actual_won_cny)) / nullif(sum(accuracy.actual_won_cny), 0), 4
    ) as bias_12_months,
    round(avg(accuracy.forecast_accuracy), 4) as avg_monthly_forecast_accuracy,
    count(*) filter (where accuracy.reconstruction_basis = 'reconstructed') as reconstructed_months,
from marts.forecast_accuracy as accuracy
inner join last_12_months
    on accuracy.month_start_date = last_12_months.month_start_date
group by accuracy.region
order by accuracy.region = '*', accuracy.region

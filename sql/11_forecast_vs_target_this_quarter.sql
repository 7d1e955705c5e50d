-- Forecast against target for the quarter of the as-of date, per region: the target and net
-- revenue so far, deals won, the probability-weighted open pipeline, the commit figure, and the
-- forecast (net revenue so far + weighted open pipeline) as a share of the target. Revenue that
-- comes without an opportunity is not in the forecast of the months ahead. Stage probabilities
-- and commit stages: dbt_project.yml var sales_forecast.
with

this_quarter as (

    -- every row of the as-of month carries the same quarter
    select distinct year_quarter from marts.sales_forecast
    where is_as_of_month

)

select
    forecast.year_quarter,
    forecast.region,
    round(sum(forecast.target_revenue), 2) as target_revenue,
    round(sum(forecast.actual_revenue), 2) as net_revenue_to_date,
    round(sum(forecast.won_amount), 2) as won_amount,
    round(sum(forecast.weighted_pipeline_amount), 2) as weighted_pipeline_amount,
    round(sum(forecast.commit_amount), 2) as commit_amount,
    round(sum(forecast.forecast_amount), 2) as forecast_amount,
    round(sum(forecast.forecast_amount) / nullif(sum(forecast.target_revenue), 0), 4) as forecast_vs_target,
from marts.sales_forecast as forecast
inner join this_quarter
    on forecast.year_quarter = this_quarter.year_quarter
group by all
order by forecast.region nulls last

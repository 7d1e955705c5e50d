-- Year-to-date target attainment and run-rate year-end projection per region and product line,
-- for the year of the as-of date.
with

latest as (

    select max(month_start_date) as month_start_date
    from marts.target_attainment
    where ytd_actual is not null

)

select
    attainment.region,
    attainment.product_line,
    round(attainment.ytd_target, 2) as ytd_target,
    round(attainment.ytd_actual, 2) as ytd_actual,
    round(attainment.ytd_attainment_rate, 4) as ytd_attainment_rate,
    round(attainment.projected_year_end_attainment, 4) as projected_year_end_attainment,
from marts.target_attainment as attainment
inner join latest
    on attainment.month_start_date = latest.month_start_date
order by attainment.region, attainment.product_line

-- Revenue target vs net revenue per month x region x product_line (target metric: var
-- target_revenue_metric), with year-to-date figures and a run-rate projection of the year end:
-- projected = actual of the year so far x (days in year / days elapsed) / annual target.
-- Empty when targets or orders are not delivered (marts.mart_status says why): an actual of 0
-- against a target would only say "no orders delivered".
with

targets as (

    select * from {{ ref('int_targets_decomposed') }}
    where metric = '{{ var('target_revenue_metric') }}'

),

actuals as (

    select * from {{ ref('int_net_revenue_by_month_region_line') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

cells as (

    select
        targets.month_start_date,
        targets.region,
        targets.product_line,
        targets.target_value as target_revenue,
        case
            when targets.month_start_date <= as_of.as_of_date then coalesce(actuals.net_revenue, 0)
        end as actual_revenue,
        year(targets.month_start_date) as year,
        as_of.as_of_date,
    from targets
    left join actuals
        on targets.month_start_date = actuals.month_start_date
        and targets.region = actuals.region
        and targets.product_line = actuals.product_line
    cross join as_of
    where {{ mart_inputs_delivered('target_attainment') }}

),

cumulative as (

    select
        *,
        sum(target_revenue) over year_to_date as ytd_target,
        sum(actual_revenue) over year_to_date as ytd_actual,
        sum(target_revenue) over full_year as annual_target,
        sum(actual_revenue) over full_year as year_actual_to_date,
    from cells
    window
        year_to_date as (
            partition by year, region, product_line order by month_start_date
            rows between unbounded preceding and current row
        ),
        full_year as (partition by year, region, product_line)

),

final as (

    select
        month_start_date,
        strftime(month_start_date, '%Y-%m') as year_month,
        year,
        region,
        product_line,
        target_revenue,
        actual_revenue,
        actual_revenue / nullif(target_revenue, 0) as attainment_rate,
        ytd_target,
        case when month_start_date <= as_of_date then ytd_actual end as ytd_actual,
        case when month_start_date <= as_of_date then ytd_actual / nullif(ytd_target, 0) end
            as ytd_attainment_rate,
        case
            when year < year(as_of_date) then year_actual_to_date / nullif(annual_target, 0)
            when year = year(as_of_date) then
                year_actual_to_date
                * (dayofyear(make_date(year, 12, 31)) / dayofyear(as_of_date))
                / nullif(annual_target, 0)
        end as projected_year_end_attainment,
    from cumulative

)

select * from final

-- The scorecard's months (first order month to the as-of month) with their measurement bounds:
-- period_end_date = month end, or the as-of date for the as-of month.
with

orders as (

    select * from {{ ref('int_orders_aggregated_from_lines') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

bounds as (

    select
        cast(date_trunc('month', coalesce(min(orders.order_date), any_value(as_of.as_of_date))) as date)
            as first_month,
        cast(date_trunc('month', any_value(as_of.as_of_date)) as date) as last_month,
        any_value(as_of.as_of_date) as as_of_date,
    from as_of
    left join orders
        on true

),

months as (

    select
        cast(unnest(generate_series(first_month, last_month, interval 1 month)) as date) as month_start_date,
        as_of_date,
    from bounds

),

final as (

    select
        month_start_date,
        least(cast(month_start_date + interval 1 month - interval 1 day as date), as_of_date) as period_end_date,
        -- Monday-to-Friday days of the month up to the period end
        (
            select count(*)
            from generate_series(
                month_start_date,
                least(cast(month_start_date + interval 1 month - interval 1 day as date), as_of_date),
                interval 1 day
            ) as days (day)
            where isodow(days.day) <= 5
        ) as working_days,
    from months

)

select * from final

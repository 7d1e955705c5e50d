-- Calendar from January 1st of the first business date to December 31st after the as-of date.
with

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

orders as (

    select min(order_date) as first_date from {{ ref('int_sales_orders_converted_to_cny') }}

),

leads as (

    select min(cast(created_at as date)) as first_date from {{ ref('stg_crm__leads') }}

),

spend as (

    select min(spend_date) as first_date from {{ ref('int_ad_spend_daily_converted_to_cny') }}

),

bounds as (

    select
        date_trunc('year', least(
            coalesce(orders.first_date, as_of.as_of_date),
            coalesce(leads.first_date, as_of.as_of_date),
            coalesce(spend.first_date, as_of.as_of_date)
        ) - interval 1 year) as first_day,
        date_trunc('year', as_of.as_of_date) + interval 2 year - interval 1 day as last_day,
    from as_of
    cross join orders
    cross join leads
    cross join spend

),

spine as (

    select cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as date_day
    from bounds

),

final as (

    select
        date_day,
        {{ date_key('date_day') }} as date_key,
        year(date_day) as year,
        quarter(date_day) as quarter,
        month(date_day) as month,
        strftime(date_day, '%Y-%m') as year_month,
        year(date_day) || '-Q' || quarter(date_day) as year_quarter,
        cast(date_trunc('month', date_day) as date) as month_start_date,
        cast(date_trunc('week', date_day) as date) as week_start_date,
        isodow(date_day) as iso_day_of_week,
        isodow(date_day) >= 6 as is_weekend,
        dayofyear(date_day) as day_of_year,
        ['一', '二', '三', '四', '五', '六', '日'][isodow(date_day)] as weekday_name_zh,
    from spine

)

select * from final

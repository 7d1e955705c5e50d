-- Parses the period into its grain (year / quarter / month) and first and last month.
with

source as (

    select * from {{ source('strategy', 'targets') }}

),

parsed as (

    select
        period,
        region,
        product_line,
        metric,
        rep_id,
        target_value,
        case
            when period like '%-Q%' then 'quarter'
            when length(period) = 7 then 'month'
            else 'year'
        end as period_grain,
        cast(left(period, 4) as integer) as period_year,
        _drop_id,
        _loaded_at,
    from source

),

final as (

    select
        period,
        period_grain,
        period_year,
        case period_grain
            when 'year' then make_date(period_year, 1, 1)
            when 'quarter' then make_date(period_year, 3 * cast(right(period, 1) as integer) - 2, 1)
            else make_date(period_year, cast(right(period, 2) as integer), 1)
        end as period_start_month,
        case period_grain
            when 'year' then make_date(period_year, 12, 1)
            when 'quarter' then make_date(period_year, 3 * cast(right(period, 1) as integer), 1)
            else make_date(period_year, cast(right(period, 2) as integer), 1)
        end as period_end_month,
        region,
        product_line,
        metric,
        rep_id,
        target_value,
        _drop_id,
        _loaded_at,
    from parsed

)

select * from final

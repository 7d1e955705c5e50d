-- Net revenue and gross margin per month x region x product line (orders up to the as-of date).
with

order_lines as (

    select * from {{ ref('int_order_lines_joined_to_returns') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

final as (

    select
        cast(date_trunc('month', order_lines.order_date) as date) as month_start_date,
        order_lines.region,
        order_lines.product_line,
        sum(order_lines.net_revenue) as net_revenue,
        sum(order_lines.gross_margin) as gross_margin,
    from order_lines
    cross join as_of
    where not order_lines.is_cancelled
        and order_lines.order_date <= as_of.as_of_date
    group by all

)

select * from final

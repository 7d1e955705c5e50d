-- One row per order not cancelled, dated up to the as-of date, with its net revenue and margin.
with

order_lines as (

    select * from {{ ref('int_order_lines_joined_to_returns') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

final as (

    select
        order_lines.order_id,
        order_lines.account_id,
        order_lines.region,
        order_lines.channel,
        order_lines.rep_id,
        order_lines.order_date,
        any_value(order_lines.order_status) as order_status,
        sum(order_lines.gross_amount) as gross_amount,
        sum(order_lines.line_amount) as line_amount,
        sum(order_lines.returned_amount) as returned_amount,
        sum(order_lines.net_revenue) as net_revenue,
        sum(order_lines.gross_margin) as gross_margin,
    from order_lines
    cross join as_of
    where not order_lines.is_cancelled
        and order_lines.order_date <= as_of.as_of_date
    group by all

)

select * from final

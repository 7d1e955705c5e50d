-- Lines are in the order's currency: joined to their order header and converted to CNY at the
-- order date (the order's rate). A line whose order is unknown (an orphan) has no currency and no
-- CNY amounts: nothing is guessed.
with

lines as (

    select * from {{ ref('stg_erp__sales_order_lines') }}

),

orders as (

    select
        order_id,
        currency,
        fx_rate,
    from {{ ref('int_sales_orders_converted_to_cny') }}

),

final as (

    select
        lines.order_id,
        lines.line_no,
        lines.sku,
        lines.quantity,
        cast(round(lines.unit_price * orders.fx_rate, 2) as decimal(18, 2)) as unit_price,
        lines.discount_rate,
        cast(round(lines.line_amount * orders.fx_rate, 2) as decimal(18, 2)) as line_amount,
        lines.unit_price as unit_price_local,
        lines.line_amount as line_amount_local,
        orders.currency,
        orders.order_id is null as is_orphan,
        lines._drop_id,
        lines._loaded_at,
    from lines
    left join orders
        on lines.order_id = orders.order_id

)

select * from final

-- Order lines as delivered: prices and amounts in the order's currency (on the order header; CNY:
-- int_sales_order_lines_converted_to_cny).
with

source as (

    select * from {{ source('erp', 'sales_order_lines') }}

),

final as (

    select
        order_id,
        line_no,
        sku,
        quantity,
        coalesce(discount_rate, 0) as discount_rate,
        unit_price,
        line_amount,
        _drop_id,
        _loaded_at,
    from source

)

select * from final

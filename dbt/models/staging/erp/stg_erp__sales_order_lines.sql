-- Lines are in the order's currency: converted to CNY at the order date (rate from the order).
-- A line whose order is unknown (an orphan) has no currency and no CNY amounts: nothing is guessed.
with

source as (

    select * from {{ source('erp', 'sales_order_lines') }}

),

orders as (

    select
        order_id,
        currency,
        fx_rate,
    from {{ ref('stg_erp__sales_orders') }}

),

final as (

    select
        source.order_id,
        source.line_no,
        source.sku,
        source.quantity,
        cast(round(source.unit_price * orders.fx_rate, 2) as decimal(18, 2)) as unit_price,
        coalesce(source.discount_rate, 0) as discount_rate,
        cast(round(source.line_amount * orders.fx_rate, 2) as decimal(18, 2)) as line_amount,
        source.unit_price as unit_price_local,
        source.line_amount as line_amount_local,
        orders.currency,
        orders.order_id is null as is_orphan,
        source._drop_id,
        source._loaded_at,
    from source
    left join orders
        on source.order_id = orders.order_id

)

select * from final

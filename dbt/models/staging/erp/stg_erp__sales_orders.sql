-- Order headers as delivered; amounts of the order are in `currency` (CNY rate:
-- int_sales_orders_converted_to_cny).
with

source as (

    select * from {{ source('erp', 'sales_orders') }}

),

final as (

    select
        order_id,
        account_id,
        opportunity_id,
        rep_id,
        channel,
        region,
        order_date,
        submitted_at,
        approved_at,
        shipped_at,
        status,
        currency,
        updated_at,
        _drop_id,
        _loaded_at,
    from source

)

select * from final

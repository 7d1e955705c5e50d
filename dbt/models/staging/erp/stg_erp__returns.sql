-- Returns as delivered: the amount is in the order's currency (on the order header; CNY:
-- int_returns_converted_to_cny).
with

source as (

    select * from {{ source('erp', 'returns') }}

),

final as (

    select
        return_id,
        order_id,
        line_no,
        sku,
        quantity,
        amount,
        returned_at,
        reason,
        _drop_id,
        _loaded_at,
    from source

)

select * from final

-- Payments as delivered, in their own currency (CNY: int_payments_converted_to_cny).
with

source as (

    select * from {{ source('erp', 'payments') }}

),

final as (

    select
        payment_id,
        order_id,
        paid_at,
        amount,
        currency,
        method,
        _drop_id,
        _loaded_at,
    from source

)

select * from final

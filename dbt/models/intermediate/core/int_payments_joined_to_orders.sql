with

payments as (

    select * from {{ ref('int_payments_converted_to_cny') }}

),

orders as (

    select * from {{ ref('int_sales_orders_converted_to_cny') }}

),

final as (

    select
        payments.payment_id,
        payments.order_id,
        orders.account_id,
        orders.region,
        payments.paid_at,
        cast(payments.paid_at as date) as paid_date,
        {{ date_key('payments.paid_at') }} as paid_date_key,
        payments.amount,
        payments.amount_local,
        payments.currency,
        payments.method,
    from payments
    left join orders
        on payments.order_id = orders.order_id

)

select * from final
